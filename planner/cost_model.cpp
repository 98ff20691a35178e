#include "planner/cost_model.h"

#include "arch/tensor_roles.h"

#include <algorithm>
#include <cmath>

#include "planner/memory_model.h"
#include "sharding/error.h"

namespace meshlm {

namespace {

double beta(const DeviceSpec& d) {
  return 1.0 / d.interconnect_bandwidth;
}

// Per-device matmul parameters and weight bytes, split into dense and expert parts.
struct WeightSplit {
  double dense_params = 0;    // matrices used by every token (embedding lookup excluded)
  double expert_params = 0;   // all local experts' matrices
  double lm_head_params = 0;  // the vocab projection (lm_head, or the tied embedding)
  double dense_bytes = 0;     // every non-expert tensor read per step
  double expert_bytes = 0;
};

WeightSplit split_weights(const CostInputs& in) {
  const ModelConfig& c = *in.config;
  WeightSplit w;
  const auto inventory = tensor_inventory(c);  // the layout's tensors, in the same order
  MESHLM_CHECK(inventory.size() == in.layout->tensors.size(), "layout of another model");
  for (size_t i = 0; i < inventory.size(); ++i) {
    const TensorPlan& t = in.layout->tensors[i];
    const TensorRole role = inventory[i].role;
    const Shape local = NamedSharding(in.layout->mesh, t.spec).shard_shape(t.shape, t.name);
    const double bytes = static_cast<double>(weight_bytes(local, t.dtype));
    const double n = static_cast<double>(num_elements(local));
    const bool matrix = t.shape.size() >= 2;
    const bool embed = role == TensorRole::embed;
    const bool head = role == TensorRole::lm_head || (embed && c.tie_word_embeddings);
    if (is_expert_role(role)) {
      w.expert_bytes += bytes;
      if (matrix) w.expert_params += n;
      continue;
    }
    if (head)
      w.lm_head_params += n;
    else if (matrix && !embed)
      w.dense_params += n;  // projections, routers
    // The embedding table is read only at the looked-up rows, unless it is tied.
    if (!embed || c.tie_word_embeddings) w.dense_bytes += bytes;
  }
  return w;
}

// Fraction of the (local) experts a batch of `tokens` touches: each token picks
// k of E experts, so an expert is untouched with probability (1 - k/E)^tokens.
double experts_touched(const ModelConfig& c, double tokens) {
  if (!c.is_moe()) return 0;
  const double p = static_cast<double>(c.experts_per_token) / static_cast<double>(c.num_experts);
  return 1.0 - std::pow(1.0 - p, tokens);
}

// What the busiest device of a MoE layer does for a batch of `tokens`: the
// fraction of its local experts' bytes it streams (the experts touched) and
// the (token, expert) pairs it computes. With every expert on every device
// (tp, or mp = 1) all devices do the same: touched(tokens) and tokens * k /
// E of each local expert. With experts split whole (ep) the busiest device
// sets the pace: its expected share, from routings of the batch drawn
// uniformly (a fixed seed; docs/DESIGN.md §6).
struct ExpertLoad {
  double bytes_fraction = 0;
  double pairs_per_expert = 0;  // (token, expert) pairs / local experts
};

ExpertLoad expert_load(const ModelConfig& c, const MeshLayout& layout, int64_t tokens) {
  if (!c.is_moe()) return {};
  const int64_t E = c.num_experts, k = c.experts_per_token, El = layout.local.experts;
  const double T = static_cast<double>(tokens);
  if (El == E) return {experts_touched(c, T), T * static_cast<double>(k) / static_cast<double>(E)};
  const int64_t groups = E / El, n = std::min<int64_t>(tokens, 2048), trials = 64;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&] {  // splitmix64: the same draws on every platform
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  double touched_max = 0, pairs_max = 0;
  std::vector<int64_t> hits(static_cast<size_t>(E));
  std::vector<int64_t> chosen(static_cast<size_t>(k));
  for (int64_t t = 0; t < trials; ++t) {
    std::fill(hits.begin(), hits.end(), 0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) {  // k distinct experts
        int64_t e;
        do e = static_cast<int64_t>(next() % static_cast<uint64_t>(E));
        while (std::find(chosen.begin(), chosen.begin() + j, e) != chosen.begin() + j);
        chosen[static_cast<size_t>(j)] = e;
        ++hits[static_cast<size_t>(e)];
      }
    int64_t most_touched = 0, most_pairs = 0;
    for (int64_t g = 0; g < groups; ++g) {
      int64_t touched = 0, pairs = 0;
      for (int64_t e = g * El; e < (g + 1) * El; ++e) {
        touched += hits[static_cast<size_t>(e)] > 0;
        pairs += hits[static_cast<size_t>(e)];
      }
      most_touched = std::max(most_touched, touched);
      most_pairs = std::max(most_pairs, pairs);
    }
    touched_max += static_cast<double>(most_touched);
    pairs_max += static_cast<double>(most_pairs);
  }
  const double scale = T / static_cast<double>(n);  // beyond 2048 tokens the shares hold
  return {touched_max / static_cast<double>(trials * El),
          pairs_max * scale / static_cast<double>(trials * El)};
}

// Attention FLOPs on one device for `tokens` query tokens of one sequence
// starting at position `start` (causal; sliding layers see at most the window).
double attention_flops(const ModelConfig& c, const MeshLayout& layout, int64_t start,
                       int64_t tokens) {
  double positions = 0;  // sum over layers and query tokens of keys attended
  for (int64_t l = 0; l < c.num_layers; ++l) {
    // sum over p = start+1 .. start+tokens of min(p, window)
    const int64_t cap = c.layer_is_sliding(l) ? c.sliding_window : start + tokens;
    const int64_t hi = std::min(start + tokens, cap);  // positions below the window
    if (hi > start)
      positions += static_cast<double>(hi - start) * static_cast<double>(start + 1 + hi) / 2.0;
    positions +=
        static_cast<double>(start + tokens - std::max(hi, start)) * static_cast<double>(cap);
  }
  return 4.0 * static_cast<double>(layout.local.heads) * static_cast<double>(c.head_dim) *
         positions;
}

void finish(const CostInputs& in, StepCost& s) {
  const DeviceSpec& d = *in.device;
  s.compute_s = s.flops / d.flops_for(compute_dtype_for(in.weight_dtype));
  s.memory_s = s.bytes / d.hbm_bandwidth;
  s.total_s = std::max(s.compute_s, s.memory_s) + s.comm_s;
}

// The collectives of one forward pass over `rows` tokens (logits for `logit_rows`).
void add_collectives(const CostInputs& in, StepCost& s, int64_t rows, int64_t logit_rows) {
  const MeshLayout& layout = *in.layout;
  const ModelConfig& c = *in.config;
  if (layout.mp == 1) return;
  const DeviceSpec& d = *in.device;
  const double act = 4.0 * static_cast<double>(rows) * static_cast<double>(c.hidden_size);
  const int64_t all_reduces = 2 * c.num_layers + (layout.vocab_sharded ? 1 : 0);
  s.comm_s += static_cast<double>(all_reduces) * all_reduce_seconds(d, layout.mp, act);
  s.comm_bytes += static_cast<double>(all_reduces) * act;
  s.collectives += static_cast<int>(all_reduces);
  if (layout.vocab_sharded && logit_rows > 0) {
    const double logits = 4.0 * static_cast<double>(logit_rows) * static_cast<double>(c.vocab_size);
    s.comm_s += all_gather_seconds(d, layout.mp, logits);
    s.comm_bytes += logits;
    s.collectives += 1;
  }
}

}  // namespace

double all_reduce_seconds(const DeviceSpec& d, int p, double n) {
  if (p <= 1) return 0;
  return 2.0 * (p - 1) * d.interconnect_latency + 2.0 * (p - 1) / p * n * beta(d);
}

double all_gather_seconds(const DeviceSpec& d, int p, double n) {
  if (p <= 1) return 0;
  return (p - 1) * d.interconnect_latency + static_cast<double>(p - 1) / p * n * beta(d);
}

DType compute_dtype_for(DType weight_dtype) {
  return weight_dtype == DType::f32 ? DType::f32 : DType::bf16;
}

StepCost decode_step_cost(const CostInputs& in, int64_t batch_local, int64_t context) {
  const ModelConfig& c = *in.config;
  const WeightSplit w = split_weights(in);
  const double B = static_cast<double>(batch_local);
  const ExpertLoad moe = expert_load(c, *in.layout, batch_local);
  StepCost s;
  s.flops =
      2.0 * (B * (w.dense_params + w.lm_head_params) + moe.pairs_per_expert * w.expert_params);
  s.flops += B * attention_flops(c, *in.layout, context - 1, 1);  // each attends `context` keys
  s.bytes = w.dense_bytes + w.expert_bytes * moe.bytes_fraction +
            static_cast<double>(
                kv_cache_bytes(c, in.layout->local.kv_heads, batch_local, context, in.kv_dtype));
  add_collectives(in, s, batch_local, batch_local);
  finish(in, s);
  return s;
}

StepCost prefill_cost(const CostInputs& in, int64_t prompt_len, int64_t prefill_chunk) {
  const ModelConfig& c = *in.config;
  const WeightSplit w = split_weights(in);
  const int64_t chunk = effective_chunk(prefill_chunk, prompt_len);
  StepCost total;
  for (int64_t start = 0; start < prompt_len; start += chunk) {
    const int64_t T = std::min(chunk, prompt_len - start);
    const bool last = start + T == prompt_len;
    const ExpertLoad moe = expert_load(c, *in.layout, T);
    StepCost s;
    s.flops =
        2.0 * (static_cast<double>(T) * w.dense_params + moe.pairs_per_expert * w.expert_params) +
        attention_flops(c, *in.layout, start, T) + (last ? 2.0 * w.lm_head_params : 0.0);
    s.bytes = w.dense_bytes + w.expert_bytes * moe.bytes_fraction +
              static_cast<double>(
                  kv_cache_bytes(c, in.layout->local.kv_heads, 1, start + T, in.kv_dtype));
    add_collectives(in, s, T, last ? 1 : 0);
    finish(in, s);
    total.flops += s.flops;
    total.bytes += s.bytes;
    total.compute_s += s.compute_s;
    total.memory_s += s.memory_s;
    total.comm_s += s.comm_s;
    total.comm_bytes += s.comm_bytes;
    total.collectives += s.collectives;
    total.total_s += s.total_s;
  }
  return total;
}

}  // namespace meshlm

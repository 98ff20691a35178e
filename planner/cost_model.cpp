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

double active_fraction(const ModelConfig& c) {
  return c.is_moe() ? static_cast<double>(c.experts_per_token) / static_cast<double>(c.num_experts)
                    : 0;
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
  StepCost s;
  s.flops = 2.0 * B * (w.dense_params + w.lm_head_params + w.expert_params * active_fraction(c));
  s.flops += B * attention_flops(c, *in.layout, context - 1, 1);  // each attends `context` keys
  s.bytes = w.dense_bytes + w.expert_bytes * experts_touched(c, B) +
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
    StepCost s;
    s.flops =
        2.0 * static_cast<double>(T) * (w.dense_params + w.expert_params * active_fraction(c)) +
        attention_flops(c, *in.layout, start, T) + (last ? 2.0 * w.lm_head_params : 0.0);
    s.bytes = w.dense_bytes + w.expert_bytes * experts_touched(c, static_cast<double>(T)) +
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

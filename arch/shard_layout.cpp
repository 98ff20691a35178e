#include "arch/shard_layout.h"

#include <algorithm>
#include <array>
#include <optional>

#include "arch/tensor_roles.h"
#include "sharding/error.h"
#include "sharding/named_sharding.h"

namespace meshlm {

namespace {

// This device's block of one tensor under the plan.
struct Block {
  std::string name;
  PartitionSpec spec;
  Shape global, offset, shape;
  bool full(size_t d) const { return shape[d] == global[d]; }
};

Block block_of(const Plan& plan, const std::string& name, const Shape& global,
               const std::vector<int>& coords) {
  Block b{name, plan.spec_for(name), global, {}, {}};
  for (auto& axis : b.spec.axes())
    if (axis != "mp")
      MESHLM_FAIL("tensor " << name << " has spec " << b.spec.to_string() << ": weights are "
                            << "sharded over 'mp' only (each 'dp' replica holds a full copy)");
  NamedSharding sh(plan.mesh, b.spec);
  b.shape = sh.shard_shape(global, name);
  b.offset = sh.shard_offset(global, coords, name);
  return b;
}

[[noreturn]] void bad_spec(const Block& b, const std::string& need) {
  MESHLM_FAIL("tensor " << b.name << " " << shape_to_string(b.global) << " has spec "
                        << b.spec.to_string() << ", but it needs " << need);
}

std::string slice_string(Slice s) {
  return "[" + std::to_string(s.begin) + ", " + std::to_string(s.end()) + ")";
}

// A quantization block (kQuantBlock elements of the last dimension of the
// unsharded tensor) never straddles two shards: a split of the last
// dimension starts and ends on block boundaries (or at the tensor's end).
void check_quant_blocks(const Block& b, DType dtype) {
  if (!is_quantized(dtype) || b.global.size() < 2) return;
  const size_t d = b.global.size() - 1;
  const int64_t end = b.offset[d] + b.shape[d];
  if (b.offset[d] % kQuantBlock == 0 && (end == b.global[d] || end % kQuantBlock == 0)) return;
  MESHLM_FAIL("tensor " << b.name << " " << shape_to_string(b.global) << " in " << dtype_name(dtype)
                        << " has spec " << b.spec.to_string() << ": it splits dimension " << d
                        << " (" << b.global[d] << ") into shards of " << b.shape[d]
                        << ", so a quantization block of " << kQuantBlock
                        << " would straddle two shards (a shard must hold whole blocks)");
}

// The dimensions a role's parallel style may split over 'mp' (one at a time).
std::vector<int> split_dims(const TensorRoleInfo& r) {
  const int last = static_cast<int>(r.dims.size()) - 1;
  switch (r.style) {
    case ParallelStyle::row:
      return {last};
    case ParallelStyle::replicated:
      return {};
    case ParallelStyle::expert_column:
      return {0, 1};
    case ParallelStyle::expert_row:
      return {0, last};
    default:  // column, vocab, kv_column, expert
      return {0};
  }
}

// The specs of the role's style with 'mp' on a splittable dimension, e.g. P('mp', None).
std::string style_spec(const TensorRoleInfo& r) {
  std::string out;
  for (int d : split_dims(r)) {
    std::vector<PartitionSpec::Entry> entries(r.dims.size());
    entries[static_cast<size_t>(d)] = PartitionSpec::Entry{"mp"};
    out += (out.empty() ? "" : " or ") + PartitionSpec(entries).to_string();
  }
  return out.empty() ? PartitionSpec(std::vector<PartitionSpec::Entry>(r.dims.size())).to_string()
                     : out;
}

int64_t unit_size(const ModelConfig& c, TensorDim::Unit u) {
  return u == TensorDim::head_dim ? c.head_dim : u == TensorDim::two ? 2 : 1;
}

}  // namespace

DType tensor_dtype(const Plan& plan, const TensorInfo& tensor) {
  const TensorPlan* t = plan.find(tensor.name);
  return t ? t->dtype : storage_dtype(tensor, plan.weight_dtype);
}

ShardLayout shard_layout(const ModelConfig& c, const Plan& plan, const std::vector<int>& coords) {
  if (plan.mesh.axis_names() != std::vector<std::string>{"dp", "mp"})
    MESHLM_FAIL("models are laid out on a mesh with axes (dp, mp); the plan's mesh is "
                << plan.mesh.to_string());
  MESHLM_CHECK(coords.size() == 2, "coords of a (dp, mp) mesh have 2 entries");

  ShardLayout L;
  L.coords = coords;
  L.dp = plan.mesh.axis_size("dp");
  L.mp = plan.mesh.axis_size("mp");
  L.dp_index = coords[0];
  L.mp_index = coords[1];
  L.kv_dtype = plan.kv_dtype;

  // The model the plan was made for (when it says) must be this model.
  if (plan.model_config.is_object() && !plan.model_config.empty()) {
    const ModelConfig pc = ModelConfig::from_hf_json(plan.model_config, plan.model_name);
    const std::pair<const char*, std::pair<int64_t, int64_t>> fields[] = {
        {"hidden_size", {pc.hidden_size, c.hidden_size}},
        {"intermediate_size", {pc.intermediate_size, c.intermediate_size}},
        {"num_hidden_layers", {pc.num_layers, c.num_layers}},
        {"num_attention_heads", {pc.num_heads, c.num_heads}},
        {"num_key_value_heads", {pc.num_kv_heads, c.num_kv_heads}},
        {"head_dim", {pc.head_dim, c.head_dim}},
        {"vocab_size", {pc.vocab_size, c.vocab_size}},
        {"num_local_experts", {pc.num_experts, c.num_experts}},
        {"tie_word_embeddings", {pc.tie_word_embeddings, c.tie_word_embeddings}},
        {"qkv bias", {pc.qkv_bias, c.qkv_bias}}};
    for (auto& [field, v] : fields)
      if (v.first != v.second)
        MESHLM_FAIL("the plan was made for model '"
                    << plan.model_name << "' whose " << field << " is " << v.first
                    << ", but the checkpoint's model '" << c.name << "' has " << v.second);
  }
  // Every tensor of the model, its plan entry (if any) matching its shape.
  const auto inventory = tensor_inventory(c);
  for (auto& t : plan.tensors) {
    auto it = std::find_if(inventory.begin(), inventory.end(),
                           [&](const TensorInfo& i) { return i.name == t.name; });
    if (it == inventory.end())
      MESHLM_FAIL("the plan lists tensor " << t.name << ", which model " << c.name
                                           << " does not have (a plan made for another model?)");
    if (it->shape != t.shape)
      MESHLM_FAIL("the plan gives tensor "
                  << t.name << " shape " << shape_to_string(t.shape) << ", but model " << c.name
                  << " has " << shape_to_string(it->shape) << " (a plan made for another model?)");
  }

  // Walk the tensors in inventory order (q before k/v, gate before down): the
  // first tensor split along an axis fixes this device's slice of it, and
  // every later one must hold the same slice.
  std::array<std::optional<Slice>, 6> axes;  // per Axis: the items this device holds
  auto axis = [&](Axis a) -> std::optional<Slice>& { return axes[static_cast<size_t>(a)]; };
  const int64_t group = c.num_heads / c.num_kv_heads;
  std::optional<Slice> kv_held;
  for (const TensorInfo& t : inventory) {
    const TensorRoleInfo& r = role_info(t.role);
    const Block b = block_of(plan, t.name, t.shape, coords);
    check_quant_blocks(b, tensor_dtype(plan, t));
    const std::vector<int> splittable = split_dims(r);
    for (size_t d = 0; d < r.dims.size(); ++d)
      if (!b.full(d) &&
          std::find(splittable.begin(), splittable.end(), static_cast<int>(d)) == splittable.end())
        bad_spec(b, "dimension " + std::to_string(d) + " (" + axis_name(r.dims[d].axis) +
                        ") replicated: " + style_spec(r));
    for (int split : splittable) {
      const size_t sd = static_cast<size_t>(split);
      const TensorDim dim = r.dims[sd];
      const int64_t unit = unit_size(c, dim.unit);
      if (b.shape[sd] % unit != 0 || b.offset[sd] % unit != 0)
        bad_spec(b, std::string("whole ") + (dim.unit == TensorDim::head_dim ? "heads" : "pairs") +
                        " of " + std::to_string(unit) + " along dimension " + std::to_string(sd) +
                        " per device (this split gives " + std::to_string(b.shape[sd]) + ")");
      const Slice held{b.offset[sd] / unit, b.shape[sd] / unit};

      if (r.style == ParallelStyle::kv_column) {
        // Query heads [h0, h1) read KV heads [h0 / group, (h1 - 1) / group].
        const Slice q = axis(Axis::heads).value_or(Slice{0, c.num_heads});
        const Slice need{q.begin / group, (q.end() - 1) / group - q.begin / group + 1};
        if (held.begin > need.begin || held.end() < need.end())
          bad_spec(b, "KV heads " + slice_string(need) + " (read by query heads " +
                          slice_string(q) + ") on this device; its block holds KV heads " +
                          slice_string(held));
        if (!kv_held) {
          kv_held = held;
          L.kv_heads = need;
          L.kv_weight_head0 = held.begin;
        }
        if (!(held == *kv_held))
          bad_spec(b, "the KV heads " + slice_string(*kv_held) + " of layer 0's k_proj (its " +
                          "block holds " + slice_string(held) + ")");
        continue;
      }
      if (r.style == ParallelStyle::vocab) {
        if (t.role == TensorRole::embed) {
          L.embed_rows = held;
          L.embed_sharded = !b.full(sd);
        }
        if (t.role == TensorRole::lm_head || c.tie_word_embeddings) {
          L.vocab = held;
          L.vocab_sharded = !b.full(sd);
        }
        continue;
      }
      // Every tensor split along an axis (the experts' weights: along both
      // the experts and the mlp axis) holds the same slice of it.
      std::optional<Slice>& first = axis(dim.axis);
      if (!first) first = held;
      if (!(held == *first))
        bad_spec(b, std::string(axis_name(dim.axis)) + " " + slice_string(*first) +
                        " on this device, as the first tensor split along it (its block holds " +
                        slice_string(held) + ")");
    }
  }
  // Row-parallel o_proj / down_proj hold the same slice of their input as the
  // column-parallel tensors before them: partial sums exactly when it is split.
  auto whole = [&](Axis a) { return axis(a).value_or(Slice{0, axis_size(c, a)}); };
  L.q_heads = whole(Axis::heads);
  L.ffn = whole(Axis::mlp);
  L.experts = c.is_moe() ? whole(Axis::experts) : Slice{};
  L.attn_partial = L.q_heads.size != c.num_heads;
  // MoE: each device sums the experts (or expert slices) it holds; the sum
  // over mp completes the layer unless one device holds everything.
  L.mlp_partial =
      L.ffn.size != c.intermediate_size || (c.is_moe() && L.experts.size != c.num_experts);
  // An 'mp' split tiles a dimension in mp order: the gather of logits
  // concatenates the slices in that order.
  MESHLM_CHECK(!L.vocab_sharded || L.vocab.begin == L.mp_index * L.vocab.size,
               "vocabulary slice " << slice_string(L.vocab) << " on mp rank " << L.mp_index);

  // Batch and sequence.
  if (plan.batch % L.dp != 0)
    MESHLM_FAIL("the plan's batch (" << plan.batch << ") is not divisible by axis 'dp' (size "
                                     << L.dp << ")");
  if (plan.seq_len > c.max_position_embeddings)
    MESHLM_FAIL("the plan's seq_len (" << plan.seq_len << ") is longer than model " << c.name
                                       << "'s maximum (max_position_embeddings "
                                       << c.max_position_embeddings << ")");
  // The KV cache spec must say what the runtime holds — the batch over 'dp',
  // the KV heads over 'mp' exactly when this device holds a part of them
  // (with mp > K each device caches its one KV head: dimension 1 whole, §4),
  // positions and head_dim whole — never be accepted and ignored. Axes of
  // size 1 split nothing and may be named or not.
  {
    const bool kv_split = L.kv_heads.size < c.num_kv_heads && L.mp <= c.num_kv_heads;
    const PartitionSpec expect({L.dp > 1 ? PartitionSpec::Entry{"dp"} : PartitionSpec::Entry{},
                                kv_split ? PartitionSpec::Entry{"mp"} : PartitionSpec::Entry{},
                                {},
                                {}});
    bool same = plan.kv_cache_spec.size() == 4;
    for (size_t d = 0; same && d < 4; ++d) {
      PartitionSpec::Entry effective;
      for (auto& a : plan.kv_cache_spec[d])
        if (plan.mesh.axis_size(a) > 1) effective.push_back(a);
      same = effective == expect[d];
    }
    if (!same)
      MESHLM_FAIL("the plan's kv_cache spec " << plan.kv_cache_spec.to_string()
                                              << " is not how the runtime lays out the KV cache "
                                                 "[batch, kv_heads, positions, head_dim] here: "
                                              << expect.to_string());
  }
  L.batch_local = plan.batch / L.dp;
  L.seq_len = plan.seq_len;
  L.prefill_chunk = effective_chunk(plan.prefill_chunk, plan.seq_len);
  L.rows = L.activation_shape().rows;
  return L;
}

LocalDims ShardLayout::local_dims() const {
  return LocalDims{q_heads.size, kv_heads.size, ffn.size, vocab.size, experts.size};
}

ActivationShape ShardLayout::activation_shape() const {
  return meshlm::activation_shape(batch_local, seq_len, prefill_chunk);
}

uint64_t ShardLayout::weight_bytes(const ModelConfig& c, const Plan& plan) const {
  uint64_t total = 0;
  for (auto& t : tensor_inventory(c))
    total += meshlm::weight_bytes(plan.sharding_for(t.name).shard_shape(t.shape, t.name),
                                  tensor_dtype(plan, t));
  return total;
}

uint64_t ShardLayout::kv_cache_bytes(const ModelConfig& c) const {
  return meshlm::kv_cache_bytes(c, kv_heads.size, batch_local, seq_len, kv_dtype);
}

uint64_t ShardLayout::activation_bytes(const ModelConfig& c) const {
  return meshlm::activation_bytes(c, local_dims(), activation_shape());
}

uint64_t ShardLayout::comm_bytes(const ModelConfig& c) const {
  return comm_buffer_bytes(c, mp, activation_shape());
}

}  // namespace meshlm

#include "model/shard_layout.h"

#include <algorithm>

#include "planner/memory_model.h"
#include "sharding/error.h"
#include "sharding/named_sharding.h"

namespace meshlm {

namespace {

// This device's block of one tensor under the plan.
struct Block {
  std::string name;
  PartitionSpec spec;
  Shape global, offset, shape;
  Slice dim(size_t d) const { return {offset[d], shape[d]}; }
  bool full(size_t d) const { return shape[d] == global[d]; }
};

Block block_of(const Plan& plan, const std::string& name, const Shape& global,
               const std::vector<int>& coords) {
  Block b{name, plan.spec_for(name), global, {}, {}};
  for (auto& axis : b.spec.axes())
    if (axis != "mp")
      MESHLM_FAIL("tensor " << name << " has spec " << b.spec.to_string() << ": the runtime shards "
                            << "weights over 'mp' only (each 'dp' replica holds a full copy)");
  NamedSharding sh(plan.mesh, b.spec);
  b.shape = sh.shard_shape(global, name);
  b.offset = sh.shard_offset(global, coords, name);
  return b;
}

[[noreturn]] void bad_spec(const Block& b, const std::string& need) {
  MESHLM_FAIL("tensor " << b.name << " " << shape_to_string(b.global) << " has spec "
                        << b.spec.to_string() << ", but the runtime needs " << need);
}

// Rows of a [rows, cols] weight split into whole heads of hd rows, all columns.
Slice head_rows(const Block& b, int64_t hd) {
  if (!b.full(1)) bad_spec(b, "its input dimension (1) replicated, e.g. P('mp', None)");
  if (b.shape[0] % hd != 0)
    bad_spec(b, "whole heads of " + std::to_string(hd) + " rows per device (this split gives " +
                    std::to_string(b.shape[0]) + " rows)");
  return {b.offset[0] / hd, b.shape[0] / hd};
}

void expect_same(const Block& b, Slice got, Slice want, const std::string& what) {
  if (!(got == want))
    bad_spec(b, what + " [" + std::to_string(want.begin) + ", " + std::to_string(want.end()) +
                    ") on this device (its block covers [" + std::to_string(got.begin) + ", " +
                    std::to_string(got.end()) + "))");
}

}  // namespace

DType tensor_dtype(const Plan& plan, const std::string& name) {
  const TensorPlan* t = plan.find(name);
  return t ? t->dtype : plan.weight_dtype;
}

bool runtime_supports(const ModelConfig& c, std::string* why) {
  const bool ok =
      (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") &&
      !c.is_moe();
  if (!ok && why)
    *why = "model type '" + c.model_type +
           "' is not supported by the runtime (supported: llama, mistral, qwen2; the planner "
           "also sizes mixtral and gpt_oss)";
  return ok;
}

ShardLayout ShardLayout::make(const ModelConfig& c, const Plan& plan,
                              const std::vector<int>& coords) {
  std::string why;
  if (!runtime_supports(c, &why)) MESHLM_FAIL(why);
  const auto names = plan.mesh.axis_names();
  if (names != std::vector<std::string>{"dp", "mp"})
    MESHLM_FAIL("the runtime needs a mesh with axes (dp, mp); the plan's mesh is "
                << plan.mesh.to_string());
  if (plan.compute_dtype != DType::f32)
    MESHLM_FAIL("compute dtype " << dtype_name(plan.compute_dtype)
                                 << " is not supported by the runtime (fp32)");
  if (plan.kv_dtype != DType::f32 && plan.kv_dtype != DType::bf16)
    MESHLM_FAIL("KV cache dtype " << dtype_name(plan.kv_dtype)
                                  << " is not supported by the runtime (fp32, bf16)");
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
  const int64_t hd = c.head_dim, H = c.num_heads, K = c.num_kv_heads, group = H / K;
  bool first_layer = true;
  for (auto& t : inventory) {
    const DType dt = tensor_dtype(plan, t.name);
    if (dt != DType::f32 && dt != DType::bf16)
      MESHLM_FAIL("tensor " << t.name << " has dtype " << dtype_name(dt)
                            << " in the plan; the runtime stores weights in fp32 or bf16");
    const Block b = block_of(plan, t.name, t.shape, coords);
    const std::string& n = t.name;
    auto ends = [&](const char* suffix) {
      const std::string s(suffix);
      return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
    };
    if (ends("layernorm.weight") || n == "model.norm.weight" || ends("o_proj.bias")) {
      if (!b.full(0)) bad_spec(b, "it replicated (P(None))");
    } else if (n == "model.embed_tokens.weight" || n == "lm_head.weight") {
      if (!b.full(1)) bad_spec(b, "its hidden dimension (1) replicated, e.g. P('mp', None)");
      if (n == "model.embed_tokens.weight") {
        L.embed_rows = b.dim(0);
        L.embed_sharded = !b.full(0);
      }
      if (n == "lm_head.weight" || c.tie_word_embeddings) {
        L.vocab = b.dim(0);
        L.vocab_sharded = !b.full(0);
      }
    } else if (ends("q_proj.weight")) {
      const Slice heads = head_rows(b, hd);
      if (first_layer) L.q_heads = heads;
      expect_same(b, heads, L.q_heads, "the same query heads as layer 0:");
    } else if (ends("k_proj.weight") || ends("v_proj.weight")) {
      const Slice held = head_rows(b, hd);
      const Slice need{L.q_heads.begin / group,
                       (L.q_heads.end() - 1) / group - L.q_heads.begin / group + 1};
      if (held.begin > need.begin || held.end() < need.end())
        bad_spec(b, "KV heads [" + std::to_string(need.begin) + ", " + std::to_string(need.end()) +
                        ") (read by query heads [" + std::to_string(L.q_heads.begin) + ", " +
                        std::to_string(L.q_heads.end()) +
                        ")) on this device; its block holds KV heads [" +
                        std::to_string(held.begin) + ", " + std::to_string(held.end()) + ")");
      if (first_layer && ends("k_proj.weight")) {
        L.kv_heads = need;
        L.kv_weight_head0 = held.begin;
      }
      expect_same(b, {held.begin * hd, held.size * hd}, {L.kv_weight_head0 * hd, b.shape[0]},
                  "the same KV rows as layer 0's k_proj:");
    } else if (ends("q_proj.bias")) {
      expect_same(b, b.dim(0), {L.q_heads.begin * hd, L.q_heads.size * hd},
                  "the rows of its q_proj weight:");
    } else if (ends("k_proj.bias") || ends("v_proj.bias")) {
      const Slice held{b.offset[0], b.shape[0]};
      if (held.begin > L.kv_heads.begin * hd || held.end() < L.kv_heads.end() * hd)
        bad_spec(b, "the rows of its weight's KV heads");
      if (held.begin != L.kv_weight_head0 * hd) bad_spec(b, "the rows of its k/v_proj weight");
    } else if (ends("o_proj.weight")) {
      if (!b.full(0)) bad_spec(b, "its output dimension (0) replicated, e.g. P(None, 'mp')");
      expect_same(b, b.dim(1), {L.q_heads.begin * hd, L.q_heads.size * hd},
                  "the input columns of this device's query heads:");
      const bool partial = !b.full(1);
      if (!first_layer && partial != L.attn_partial) bad_spec(b, "the same split as layer 0");
      L.attn_partial = partial;
    } else if (ends("gate_proj.weight") || ends("up_proj.weight")) {
      if (!b.full(1)) bad_spec(b, "its input dimension (1) replicated, e.g. P('mp', None)");
      if (first_layer && ends("gate_proj.weight")) L.ffn = b.dim(0);
      expect_same(b, b.dim(0), L.ffn, "the same intermediate rows as layer 0's gate_proj:");
    } else if (ends("down_proj.weight")) {
      if (!b.full(0)) bad_spec(b, "its output dimension (0) replicated, e.g. P(None, 'mp')");
      expect_same(b, b.dim(1), L.ffn, "the input columns of this device's gate/up rows:");
      const bool partial = !b.full(1);
      if (!first_layer && partial != L.mlp_partial) bad_spec(b, "the same split as layer 0");
      L.mlp_partial = partial;
      first_layer = false;
    } else {
      MESHLM_FAIL("tensor " << n << " is not executed by the runtime");
    }
  }
  // Sharded along 'mp' means the mp ranks' slices tile the dimension in mp
  // order: the all-gather of logits concatenates them in that order.
  if (L.vocab_sharded && L.vocab.begin != L.mp_index * L.vocab.size)
    MESHLM_FAIL("the classifier's vocabulary slice on mp rank "
                << L.mp_index << " does not start at " << L.mp_index * L.vocab.size);

  // Batch and sequence.
  if (plan.batch % L.dp != 0)
    MESHLM_FAIL("the plan's batch (" << plan.batch << ") is not divisible by axis 'dp' (size "
                                     << L.dp << ")");
  if (L.dp > 1 &&
      (plan.kv_cache_spec.size() != 4 || plan.kv_cache_spec[0] != PartitionSpec::Entry{"dp"}))
    MESHLM_FAIL(
        "the runtime splits the batch over 'dp': the plan's kv_cache spec must be "
        "P('dp', ...), it is "
        << plan.kv_cache_spec.to_string());
  L.batch_local = plan.batch / L.dp;
  L.seq_len = plan.seq_len;
  L.prefill_chunk = effective_chunk(plan.prefill_chunk, plan.seq_len);
  L.rows = L.activation_shape().rows;
  return L;
}

LocalDims ShardLayout::local_dims() const {
  return LocalDims{q_heads.size, kv_heads.size, ffn.size, vocab.size};
}

ActivationShape ShardLayout::activation_shape() const {
  return meshlm::activation_shape(batch_local, seq_len, prefill_chunk);
}

uint64_t ShardLayout::weight_bytes(const ModelConfig& c, const Plan& plan) const {
  uint64_t total = 0;
  for (auto& t : tensor_inventory(c)) {
    const Shape block = plan.sharding_for(t.name).shard_shape(t.shape, t.name);
    total += dtype_bytes(tensor_dtype(plan, t.name), static_cast<uint64_t>(num_elements(block)));
  }
  return total;
}

uint64_t ShardLayout::kv_cache_bytes(const ModelConfig& c) const {
  uint64_t total = 0;
  for (int64_t l = 0; l < c.num_layers; ++l)
    total +=
        2 * dtype_bytes(kv_dtype, static_cast<uint64_t>(batch_local * kv_heads.size *
                                                        c.kv_positions(l, seq_len) * c.head_dim));
  return total;
}

uint64_t ShardLayout::activation_bytes(const ModelConfig& c) const {
  return meshlm::activation_bytes(c, local_dims(), activation_shape());
}

uint64_t ShardLayout::comm_bytes(const ModelConfig& c) const {
  return mp > 1 ? dtype_bytes(DType::f32, static_cast<uint64_t>(rows * c.hidden_size)) : 0;
}

}  // namespace meshlm

#include "planner/layout.h"

#include "planner/memory_model.h"
#include "sharding/error.h"

namespace meshlm {

namespace {
const std::string L = "model\\.layers\\.\\d+\\.";

PartitionSpec P(std::initializer_list<const char*> dims) {
  return PartitionSpec::of(dims);
}
}  // namespace

AbstractMesh dp_mp_mesh(int dp, int mp) {
  return AbstractMesh({{"dp", dp}, {"mp", mp}});
}

int MeshLayout::collectives_per_step(int64_t num_layers) const {
  if (mp == 1) return 0;
  return static_cast<int>(2 * num_layers) + (vocab_sharded ? 2 : 0);
}

ShardingRules default_rules(const ModelConfig& c, bool kv_replicated, bool vocab_sharded) {
  ShardingRules r;
  const PartitionSpec vocab = vocab_sharded ? P({"mp", ""}) : P({"", ""});
  const PartitionSpec kv_w = kv_replicated ? P({"", ""}) : P({"mp", ""});
  const PartitionSpec kv_b = kv_replicated ? P({""}) : P({"mp"});
  r.add("model\\.embed_tokens\\.weight", vocab);  // [V, D] vocab-parallel
  r.add(L + "(input_layernorm|post_attention_layernorm)\\.weight", P({""}));  // [D]
  r.add(L + "self_attn\\.q_proj\\.weight", P({"mp", ""}));                    // [H*hd, D] column
  r.add(L + "self_attn\\.[kv]_proj\\.weight", kv_w);                          // [K*hd, D] column
  if (c.qkv_bias) {
    r.add(L + "self_attn\\.q_proj\\.bias", P({"mp"}));  // [H*hd]
    r.add(L + "self_attn\\.[kv]_proj\\.bias", kv_b);    // [K*hd]
  }
  r.add(L + "self_attn\\.o_proj\\.weight", P({"", "mp"}));        // [D, H*hd] row-parallel
  if (c.o_bias) r.add(L + "self_attn\\.o_proj\\.bias", P({""}));  // [D] added once
  if (c.model_type == "gpt_oss") {
    r.add(L + "self_attn\\.sinks", P({"mp"}));        // [H]
    r.add(L + "mlp\\.router\\.weight", P({"", ""}));  // [E, D]
    r.add(L + "mlp\\.router\\.bias", P({""}));        // [E]
    r.add(L + "mlp\\.experts\\.(gate_up_proj|down_proj)",
          P({"mp", "", ""}));  // [E, ., .] expert-parallel
    r.add(L + "mlp\\.experts\\.(gate_up_proj|down_proj)_bias", P({"mp", ""}));  // [E, .]
  } else if (c.model_type == "mixtral") {
    r.add(L + "block_sparse_moe\\.gate\\.weight", P({"", ""}));  // [E, D] router
    r.add(L + "block_sparse_moe\\.experts\\.\\d+\\.w[13]\\.weight", P({"mp", ""}));  // [I, D]
    r.add(L + "block_sparse_moe\\.experts\\.\\d+\\.w2\\.weight", P({"", "mp"}));     // [D, I]
  } else {
    r.add(L + "mlp\\.(gate|up)_proj\\.weight", P({"mp", ""}));  // [I, D] column
    r.add(L + "mlp\\.down_proj\\.weight", P({"", "mp"}));       // [D, I] row-parallel
  }
  r.add("model\\.norm\\.weight", P({""}));                       // [D]
  if (!c.tie_word_embeddings) r.add("lm_head\\.weight", vocab);  // [V, D] vocab slice of logits
  return r;
}

MeshLayout make_layout(const ModelConfig& c, const AbstractMesh& mesh, DType weight_dtype) {
  if (!mesh.has_axis("dp") || !mesh.has_axis("mp") || mesh.num_axes() != 2)
    MESHLM_FAIL("the planner lays models out on a mesh with axes 'dp' and 'mp', got "
                << mesh.to_string());
  MeshLayout out;
  out.mesh = mesh;
  out.dp = mesh.axis_size("dp");
  out.mp = mesh.axis_size("mp");
  const int mp = out.mp;
  const int64_t H = c.num_heads, K = c.num_kv_heads;
  if (H % mp != 0)
    MESHLM_FAIL("dimension 0 of model.layers.*.self_attn.q_proj.weight (size "
                << H * c.head_dim << " = " << H << " heads x " << c.head_dim
                << ") cannot be split into whole heads over axis 'mp' (size " << mp
                << "): num_attention_heads " << H << " is not divisible by " << mp);
  if (K % mp != 0 && mp % K != 0)
    MESHLM_FAIL("dimension 0 of model.layers.*.self_attn.k_proj.weight (size "
                << K * c.head_dim << " = " << K << " KV heads x " << c.head_dim
                << ") cannot be split over axis 'mp' (size " << mp << "): num_key_value_heads " << K
                << " is not divisible by " << mp << ", and " << mp << " is not a multiple of " << K
                << " (needed to replicate KV heads)");
  if (c.model_type == "gpt_oss" && c.num_experts % mp != 0)
    MESHLM_FAIL("dimension 0 of model.layers.*.mlp.experts.gate_up_proj (size "
                << c.num_experts << " experts) is not divisible by axis 'mp' (size " << mp
                << "): experts are split whole over mp");
  if (c.model_type != "gpt_oss" && c.intermediate_size % mp != 0)
    MESHLM_FAIL("dimension 0 of " << (c.is_moe()
                                          ? "model.layers.*.block_sparse_moe.experts.*.w1.weight"
                                          : "model.layers.*.mlp.gate_proj.weight")
                                  << " (size " << c.intermediate_size
                                  << ", intermediate_size) is not divisible by axis 'mp' (size "
                                  << mp << ")");
  out.kv_replicated = K % mp != 0;
  out.vocab_sharded = c.vocab_size % mp == 0;
  if (out.kv_replicated)
    out.notes.push_back("KV heads replicated: mp " + std::to_string(mp) + " > " +
                        std::to_string(K) + " KV heads; each device caches the 1 KV head its " +
                        std::to_string(H / mp) + " query heads use");
  if (!out.vocab_sharded)
    out.notes.push_back("vocab " + std::to_string(c.vocab_size) + " not divisible by mp " +
                        std::to_string(mp) + ": embed_tokens and lm_head replicated");
  out.local.heads = H / mp;
  out.local.kv_heads = out.kv_replicated ? 1 : K / mp;
  out.local.intermediate =
      c.model_type == "gpt_oss" ? c.intermediate_size : c.intermediate_size / mp;
  out.local.vocab = out.vocab_sharded ? c.vocab_size / mp : c.vocab_size;
  out.rules = default_rules(c, out.kv_replicated, out.vocab_sharded);
  out.kv_cache_spec = out.kv_replicated ? PartitionSpec::of({"dp", "", "", ""})
                                        : PartitionSpec::of({"dp", "mp", "", ""});
  out.activation_spec = PartitionSpec::of({"dp", "", ""});

  for (auto& t : tensor_inventory(c)) {
    auto spec = out.rules.match(t.name);
    MESHLM_CHECK(spec.has_value(), "no default rule matches " << t.name);
    const NamedSharding sharding(mesh, *spec);
    const Shape local = sharding.shard_shape(t.shape, t.name);  // throws naming tensor/dim/axis
    const DType dt = storage_dtype(t.shape, weight_dtype);
    out.weight_bytes += weight_bytes(local, dt);
    out.tensors.push_back({t.name, t.shape, dt, *spec});
  }
  return out;
}

}  // namespace meshlm

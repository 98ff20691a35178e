#include "planner/layout.h"

#include "arch/shard_layout.h"
#include "arch/tensor_roles.h"
#include "planner/memory_model.h"
#include "sharding/error.h"

namespace meshlm {

AbstractMesh dp_mp_mesh(int dp, int mp) {
  return AbstractMesh({{"dp", dp}, {"mp", mp}});
}

namespace {
// The first expert matrix of the family (for messages).
TensorRole expert_matrix_role(const ModelConfig& c) {
  return c.family == Family::mixtral ? TensorRole::moe_w1 : TensorRole::experts_gate_up;
}
}  // namespace

MoeSharding default_moe_sharding(const ModelConfig& c, int mp, DType weight_dtype) {
  if (!c.is_moe() || mp == 1) return MoeSharding::tp;
  const int64_t I = c.intermediate_size;
  const bool tp_divides =
      I % mp == 0 && (!is_quantized(weight_dtype) || (I / mp) % kQuantBlock == 0);
  return tp_divides || c.num_experts % mp != 0 ? MoeSharding::tp : MoeSharding::ep;
}

MoeSharding parse_moe_sharding(const std::string& s) {
  if (s == "tp") return MoeSharding::tp;
  if (s == "ep") return MoeSharding::ep;
  MESHLM_FAIL("unknown --moe '" << s << "' (expected tp or ep)");
}

const char* moe_sharding_name(MoeSharding m) {
  return m == MoeSharding::tp ? "tp" : "ep";
}

int MeshLayout::collectives_per_step(int64_t num_layers) const {
  if (mp == 1) return 0;
  return static_cast<int>(2 * num_layers) + (vocab_sharded ? 2 : 0);
}

ShardingRules default_rules(const ModelConfig& c, bool kv_replicated, bool vocab_sharded,
                            MoeSharding moe) {
  const bool ep = moe == MoeSharding::ep;
  ShardingRules rules;
  for (const TensorRoleInfo& r : tensor_roles()) {
    if (!role_present(r, c)) continue;
    std::vector<PartitionSpec::Entry> spec(r.dims.size());
    const PartitionSpec::Entry mp{"mp"};
    switch (r.style) {
      case ParallelStyle::column:
        spec[0] = mp;
        break;
      case ParallelStyle::expert_column:
        spec[ep ? 0 : 1] = mp;
        break;
      case ParallelStyle::expert_row:
        (ep ? spec.front() : spec.back()) = mp;
        break;
      case ParallelStyle::expert:
        if (ep) spec[0] = mp;
        break;
      case ParallelStyle::kv_column:
        if (!kv_replicated) spec[0] = mp;
        break;
      case ParallelStyle::vocab:
        if (vocab_sharded) spec[0] = mp;
        break;
      case ParallelStyle::row:
        spec.back() = mp;
        break;
      case ParallelStyle::replicated:
        break;
    }
    rules.add(role_pattern(r.role), PartitionSpec(spec));
  }
  return rules;
}

MeshLayout make_layout(const ModelConfig& c, const AbstractMesh& mesh, DType weight_dtype,
                       MoeSharding moe) {
  check_weight_dtype(weight_dtype);
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
    MESHLM_FAIL("dimension 0 of " << role_wildcard_name(TensorRole::q) << " (size "
                                  << H * c.head_dim << " = " << H << " heads x " << c.head_dim
                                  << ") cannot be split into whole heads over axis 'mp' (size "
                                  << mp << "): num_attention_heads " << H << " is not divisible by "
                                  << mp);
  if (K % mp != 0 && mp % K != 0)
    MESHLM_FAIL("dimension 0 of " << role_wildcard_name(TensorRole::k) << " (size "
                                  << K * c.head_dim << " = " << K << " KV heads x " << c.head_dim
                                  << ") cannot be split over axis 'mp' (size " << mp
                                  << "): num_key_value_heads " << K << " is not divisible by " << mp
                                  << ", and " << mp << " is not a multiple of " << K
                                  << " (needed to replicate KV heads)");
  const bool ep = c.is_moe() && moe == MoeSharding::ep;
  if (ep && c.num_experts % mp != 0)
    MESHLM_FAIL("dimension 0 of " << role_wildcard_name(expert_matrix_role(c)) << " (size "
                                  << c.num_experts
                                  << " experts) is not divisible by axis 'mp' (size " << mp
                                  << "): --moe ep splits whole experts over mp");
  if (!ep && c.intermediate_size % mp != 0)
    MESHLM_FAIL(
        "dimension " << (c.is_moe() ? 1 : 0) << " of "
                     << role_wildcard_name(c.is_moe() ? expert_matrix_role(c) : TensorRole::gate)
                     << " (size " << c.intermediate_size
                     << ", intermediate_size) is not divisible by axis 'mp' (size " << mp << ")"
                     << (c.is_moe() ? " (--moe tp slices every expert; --moe ep keeps "
                                      "experts whole)"
                                    : ""));
  out.kv_replicated = K % mp != 0;
  out.vocab_sharded = c.vocab_size % mp == 0;
  if (out.kv_replicated)
    out.notes.push_back("KV heads replicated: mp " + std::to_string(mp) + " > " +
                        std::to_string(K) + " KV heads; each device caches the 1 KV head its " +
                        std::to_string(H / mp) + " query heads use");
  if (!out.vocab_sharded)
    out.notes.push_back("vocab " + std::to_string(c.vocab_size) + " not divisible by mp " +
                        std::to_string(mp) + ": embed_tokens and lm_head replicated");
  out.moe = moe;
  out.rules = default_rules(c, out.kv_replicated, out.vocab_sharded, moe);
  out.kv_cache_spec = out.kv_replicated ? PartitionSpec::of({"dp", "", "", ""})
                                        : PartitionSpec::of({"dp", "mp", "", ""});
  out.activation_spec = PartitionSpec::of({"dp", "", ""});

  for (auto& t : tensor_inventory(c)) {
    auto spec = out.rules.match(t.name);
    MESHLM_CHECK(spec.has_value(), "no default rule matches " << t.name);
    NamedSharding(mesh, *spec).validate(t.shape, t.name);  // throws naming tensor/dim/axis
    out.tensors.push_back({t.name, t.shape, storage_dtype(t, weight_dtype), *spec});
  }
  // What each device holds: the function the runtime calls on the plan (the
  // sizes are the same on every device of the default layout).
  Plan skeleton;
  skeleton.mesh = mesh;
  skeleton.rules = out.rules;
  skeleton.tensors = out.tensors;
  skeleton.kv_cache_spec = out.kv_cache_spec;
  skeleton.weight_dtype = weight_dtype;
  skeleton.batch = out.dp;
  skeleton.seq_len = 1;
  const ShardLayout device = shard_layout(c, skeleton, {0, 0});
  out.local = device.local_dims();
  out.weight_bytes = device.weight_bytes(c, skeleton);
  return out;
}

}  // namespace meshlm

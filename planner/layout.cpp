#include "planner/layout.h"

#include "arch/shard_layout.h"
#include "arch/tensor_roles.h"
#include "planner/memory_model.h"
#include "sharding/error.h"

namespace meshlm {

AbstractMesh dp_mp_mesh(int dp, int mp) {
  return AbstractMesh({{"dp", dp}, {"mp", mp}});
}

int MeshLayout::collectives_per_step(int64_t num_layers) const {
  if (mp == 1) return 0;
  return static_cast<int>(2 * num_layers) + (vocab_sharded ? 2 : 0);
}

ShardingRules default_rules(const ModelConfig& c, bool kv_replicated, bool vocab_sharded) {
  ShardingRules rules;
  for (const TensorRoleInfo& r : tensor_roles()) {
    if (!role_present(r, c)) continue;
    std::vector<PartitionSpec::Entry> spec(r.dims.size());
    const PartitionSpec::Entry mp{"mp"};
    switch (r.style) {
      case ParallelStyle::column:
      case ParallelStyle::expert:
        spec[0] = mp;
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

MeshLayout make_layout(const ModelConfig& c, const AbstractMesh& mesh, DType weight_dtype) {
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
  if (c.family == Family::gpt_oss && c.num_experts % mp != 0)
    MESHLM_FAIL("dimension 0 of " << role_wildcard_name(TensorRole::experts_gate_up) << " (size "
                                  << c.num_experts
                                  << " experts) is not divisible by axis 'mp' (size " << mp
                                  << "): experts are split whole over mp");
  if (c.family != Family::gpt_oss && c.intermediate_size % mp != 0)
    MESHLM_FAIL(
        "dimension 0 of " << role_wildcard_name(c.is_moe() ? TensorRole::moe_w1 : TensorRole::gate)
                          << " (size " << c.intermediate_size
                          << ", intermediate_size) is not divisible by axis 'mp' (size " << mp
                          << ")");
  out.kv_replicated = K % mp != 0;
  out.vocab_sharded = c.vocab_size % mp == 0;
  if (out.kv_replicated)
    out.notes.push_back("KV heads replicated: mp " + std::to_string(mp) + " > " +
                        std::to_string(K) + " KV heads; each device caches the 1 KV head its " +
                        std::to_string(H / mp) + " query heads use");
  if (!out.vocab_sharded)
    out.notes.push_back("vocab " + std::to_string(c.vocab_size) + " not divisible by mp " +
                        std::to_string(mp) + ": embed_tokens and lm_head replicated");
  out.rules = default_rules(c, out.kv_replicated, out.vocab_sharded);
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

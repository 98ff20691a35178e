// MeshLayout: how a model is laid out on one dp x mp mesh with the default
// Megatron-style rules (docs/DESIGN.md §4): the ordered rules, the resolved spec and
// storage dtype of every tensor, the KV cache / activation specs, the per-device
// dimensions and the exact weight bytes per device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/device_bytes.h"
#include "arch/model_config.h"
#include "sharding/abstract_mesh.h"
#include "sharding/plan.h"
#include "sharding/rules.h"

namespace meshlm {

// How the experts of a MoE model are placed over 'mp' (docs/DESIGN.md §4):
// tp slices every expert's intermediate dimension (like the dense MLP); ep
// gives each device E / mp whole experts. Both end the MoE block with one
// all-reduce over mp.
enum class MoeSharding { tp, ep };
MoeSharding parse_moe_sharding(const std::string& s);  // "tp", "ep"
const char* moe_sharding_name(MoeSharding m);

struct MeshLayout {
  AbstractMesh mesh;  // axes ("dp", "mp")
  int dp = 1;
  int mp = 1;
  // mp > K (a multiple of K): k/v_proj are replicated (None, None) and every
  // device caches only the one KV head its query heads use (vLLM style), so
  // local.kv_heads = 1 and the KV cache spec is (dp, None, None, None).
  bool kv_replicated = false;
  // V % mp == 0: embed_tokens and lm_head are split over mp (vocab-parallel);
  // otherwise both are replicated (no padding) and local.vocab = V.
  bool vocab_sharded = true;
  MoeSharding moe = MoeSharding::tp;  // MoE models only
  LocalDims local;
  ShardingRules rules;
  std::vector<TensorPlan> tensors;  // inventory order: resolved spec, storage dtype
  PartitionSpec kv_cache_spec;      // [B, K, S, hd]
  PartitionSpec activation_spec;    // [B, T, D]
  uint64_t weight_bytes = 0;        // per device: sum of every tensor's shard bytes
  std::vector<std::string> notes;   // e.g. "KV heads replicated: ..."

  // Collectives per decode step: two all-reduces per layer, one after a
  // vocab-parallel embedding lookup, one all-gather of the logits (0 when mp = 1).
  int collectives_per_step(int64_t num_layers) const;
};

// The default rules (first match wins) for the config's family. Specs name the
// axis "mp"; kv_replicated / vocab_sharded choose the k/v and embedding
// rules, `moe` the experts'.
ShardingRules default_rules(const ModelConfig& config, bool kv_replicated, bool vocab_sharded,
                            MoeSharding moe = MoeSharding::tp);

// Checks divisibility of heads, KV heads, intermediate size and experts by mp
// and lays the model out. Throws meshlm::Error naming the tensor, the
// dimension and the axis when the mesh cannot hold the model.
MeshLayout make_layout(const ModelConfig& config, const AbstractMesh& mesh, DType weight_dtype,
                       MoeSharding moe = MoeSharding::tp);

// The placement a MoE model gets when none is asked for: tp when the mesh
// allows it (I / mp whole quantization blocks), else ep. Dense models: tp.
MoeSharding default_moe_sharding(const ModelConfig& config, int mp, DType weight_dtype);

// The ("dp", dp) x ("mp", mp) mesh.
AbstractMesh dp_mp_mesh(int dp, int mp);

}  // namespace meshlm

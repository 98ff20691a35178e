// Plan: a sharding config file (JSON) — what mesh-plan writes and mesh-run
// executes. Users may hand-write or edit one; load() validates it.
//
// {
//   "format": "meshlm-plan", "version": 1,
//   "model":  {"name": "...", "config": {<Hugging Face config.json fields>}},
//   "mesh":   {"shape": [2, 2], "axis_names": ["dp", "mp"]},
//   "rules":  [{"pattern": "model\\.layers\\.\\d+\\.self_attn\\.[qkv]_proj\\.weight",
//               "spec": ["mp", null]}, ...],                     // first match wins
//   "tensors": {"model.embed_tokens.weight":
//                 {"shape": [512, 64], "dtype": "fp32", "spec": ["mp", null]}, ...},
//   "kv_cache":    {"spec": ["dp", "mp", null, null], "dtype": "fp32"},  // [B, K, S, hd]
//   "activations": {"spec": ["dp", null, null]},                         // [B, T, D]
//   "dtypes": {"weights": "fp32", "kv_cache": "fp32", "compute": "fp32"},
//   "seq_len": 512, "batch": 4, "prefill_chunk": 512,
//   "device": {<DeviceSpec>},                     // optional
//   "predicted_bytes_per_device": {"weights": ..., "kv_cache": ..., "activations": ...,
//                                  "comm": ..., "reserve": ..., "capacity": ...}
// }
// Required: "mesh", "seq_len", "batch". Optional, with defaults: "format"/"version"
// (checked when present), "model", "rules" (none), "tensors" (none: every tensor
// then resolves through the rules), "kv_cache" (P('dp','mp',None,None)),
// "activations" (P('dp',None,None)), "dtypes" (fp32), "prefill_chunk" (seq_len),
// "device", "predicted_bytes_per_device". A tensor entry's "dtype" defaults to fp32.
// When the KV cache spec leaves dimension 1 (KV heads) unsharded and mp > K, each
// device caches only the one KV head its query heads use (vLLM-style replication).
// save() writes one line per rule and per tensor in the plan's order; load()
// keeps the file's tensor order (from_json sorts tensor names naturally).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sharding/abstract_mesh.h"
#include "sharding/device_spec.h"
#include "sharding/dtype.h"
#include "sharding/named_sharding.h"
#include "sharding/rules.h"

namespace meshlm {

struct TensorPlan {
  std::string name;  // canonical (Hugging Face) name
  Shape shape;       // global shape
  DType dtype = DType::f32;
  PartitionSpec spec;
};

struct Plan {
  std::string model_name;
  nlohmann::json model_config;  // HF-style config.json the plan was made for
  AbstractMesh mesh;
  ShardingRules rules;
  std::vector<TensorPlan> tensors;  // resolved spec of every tensor, inventory order
  PartitionSpec kv_cache_spec = PartitionSpec::of({"dp", "mp", "", ""});
  PartitionSpec activation_spec = PartitionSpec::of({"dp", "", ""});
  DType weight_dtype = DType::f32;
  DType kv_dtype = DType::f32;
  DType compute_dtype = DType::f32;
  int64_t seq_len = 0;
  int64_t batch = 0;  // global batch (sum over dp replicas)
  int64_t prefill_chunk = 0;
  std::optional<DeviceSpec> device;
  std::map<std::string, uint64_t> predicted_bytes;  // per device, by category

  // The tensor's entry, or nullptr.
  const TensorPlan* find(const std::string& name) const;
  // Resolved spec of a tensor: its entry in `tensors`, else the first matching
  // rule, else an error naming the tensor.
  PartitionSpec spec_for(const std::string& name) const;
  NamedSharding sharding_for(const std::string& name) const {
    return NamedSharding(mesh, spec_for(name));
  }

  // Axes exist, no axis twice in one spec, spec rank matches shape, every
  // sharded dimension divides: errors name the tensor, the dimension and the axis.
  void validate() const;

  nlohmann::json to_json() const;
  static Plan from_json(const nlohmann::json& j);  // validates
  static Plan load(const std::string& path);       // validates; errors name the file
  void save(const std::string& path) const;
};

}  // namespace meshlm

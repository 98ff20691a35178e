// Plan: a sharding config file (JSON, format "meshlm-plan" version 1) — what
// mesh-plan writes and mesh-run executes. Users may hand-write or edit one;
// load() validates it (axes, repeated axes, spec ranks, divisibility, KV cache
// and activation specs) and keeps the file's tensor order. Fields, defaults
// and validation: docs/DESIGN.md §5 (Plan files).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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
  // load() on the text of a plan file (in memory); `path` names it in errors.
  static Plan parse(std::string_view text, const std::string& path);
  void save(const std::string& path) const;
};

}  // namespace meshlm

// The planner's entry points used outside planner/ (mesh-plan, and mesh-run
// when no --plan is given). Pure C++: no MPI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "planner/activations.h"
#include "planner/memory_model.h"
#include "planner/model_config.h"
#include "sharding/abstract_mesh.h"
#include "sharding/device_spec.h"
#include "sharding/plan.h"

namespace meshlm {

struct PlanRequest {
  DType weight_dtype = DType::f32;
  DType kv_dtype = DType::f32;
  int64_t seq_len = 0;        // 0 = the model's max_position_embeddings (capped by the device)
  int64_t batch = 0;          // global batch; 0 = the largest that fits
  int64_t prefill_chunk = 0;  // 0 = seq_len
  std::optional<DeviceSpec> device;       // capacity, bandwidths, FLOP/s
  std::optional<uint64_t> device_memory;  // overrides device->hbm_bytes
  Reserve reserve;  // runtime headroom, default 10% of device memory (memory_model.h)
};

// A plan (default Megatron-style rules, resolved specs, predicted bytes) for
// one given mesh. Throws meshlm::Error naming the reason when the mesh is
// infeasible for the model (divisibility, memory).
// With neither device nor device_memory, memory is not checked (capacity
// unknown): seq_len 0 then means max_position_embeddings and batch 0 means dp.
// predicted_bytes has the keys weights, kv_cache, activations, comm, reserve
// (and capacity when known), per device, computed exactly as memory_model.h.
Plan plan_for_mesh(const ModelConfig& config, const AbstractMesh& mesh, const PlanRequest& request);

// Per-device dimensions a plan implies for the model: heads and intermediate
// from the specs of layer 0's q_proj and up/gate (or expert) projections, KV
// heads from the KV cache spec (1 when dimension 1 is unsharded and mp > K: the
// device caches only the KV head its query heads use), vocab from lm_head (or
// the tied embedding). Throws when the plan does not cover the model.
LocalDims plan_local_dims(const Plan& plan, const ModelConfig& config);

// Checks that the plan holds a spec for every tensor of the model with the
// model's shapes (and that every spec divides): errors name the tensor.
void check_plan_matches_model(const Plan& plan, const ModelConfig& config);

}  // namespace meshlm

// The planner's entry points used outside planner/ (mesh-plan, and mesh-run
// when no --plan is given). Pure C++: no MPI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "arch/device_bytes.h"
#include "arch/model_config.h"
#include "planner/layout.h"
#include "planner/memory_model.h"
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
  // MoE: how experts are placed over mp; default default_moe_sharding().
  std::optional<MoeSharding> moe;
};

// A plan (default Megatron-style rules, resolved specs, predicted bytes) for
// one given mesh. Throws meshlm::Error naming the reason when the mesh is
// infeasible for the model (divisibility, memory).
// With neither device nor device_memory, memory is not checked (capacity
// unknown): seq_len 0 then means max_position_embeddings and batch 0 means dp.
// predicted_bytes has the keys weights, kv_cache, activations, comm, reserve
// (and capacity when known), per device, computed exactly as memory_model.h.
Plan plan_for_mesh(const ModelConfig& config, const AbstractMesh& mesh, const PlanRequest& request);

}  // namespace meshlm

// The latency model: a roofline per device (max of FLOPs / peak FLOP/s and
// bytes / memory bandwidth) plus alpha-beta collectives, not overlapped, for
// one decode step and for a chunked prefill. Terms: docs/DESIGN.md §6.
#pragma once

#include <cstdint>

#include "arch/model_config.h"
#include "planner/layout.h"
#include "sharding/device_spec.h"

namespace meshlm {

// Ring all-reduce over p devices of n_bytes: 2(p-1) alpha + 2(p-1)/p n beta.
double all_reduce_seconds(const DeviceSpec& device, int p, double n_bytes);
// Ring all-gather (n_bytes = the gathered result): (p-1) alpha + (p-1)/p n beta.
double all_gather_seconds(const DeviceSpec& device, int p, double n_bytes);

// The dtype whose peak FLOP/s applies: fp32 weights compute in fp32, everything
// else (bf16, fp16, and weight-only int8/int4) in bf16.
DType compute_dtype_for(DType weight_dtype);

struct StepCost {
  double flops = 0;       // per device
  double bytes = 0;       // HBM bytes read per device
  double compute_s = 0;   // flops / peak
  double memory_s = 0;    // bytes / bandwidth
  double comm_s = 0;      // collectives
  int collectives = 0;    // number of collective calls
  double comm_bytes = 0;  // bytes per device handed to collectives
  double total_s = 0;     // max(compute_s, memory_s) + comm_s
  bool compute_bound() const { return compute_s > memory_s; }
};

struct CostInputs {
  const ModelConfig* config = nullptr;
  const MeshLayout* layout = nullptr;
  const DeviceSpec* device = nullptr;
  DType weight_dtype = DType::bf16;
  DType kv_dtype = DType::bf16;
};

StepCost decode_step_cost(const CostInputs& in, int64_t batch_local, int64_t context);
StepCost prefill_cost(const CostInputs& in, int64_t prompt_len, int64_t prefill_chunk);

}  // namespace meshlm

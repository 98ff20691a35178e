// The activation buffers of one device: exactly the list of
// planner/activations.h (the single source of truth the planner's memory
// prediction uses), allocated once in category activations and reused by
// every forward pass — nothing is allocated while generating.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/device_bytes.h"
#include "mesh/device_memory.h"

namespace meshlm {

struct Workspace {
  // `mp`: the size of the tensor-parallel axis; when > 1 a staging buffer
  // [rows, D] receives the all-reduces (category comm, as the planner's
  // memory model counts it).
  Workspace(DeviceMemory& memory, const ModelConfig& config, const LocalDims& local,
            const ActivationShape& shape, int mp);

  // rows = ActivationShape::rows (max tokens per forward pass); shapes as in
  // planner/activations.cpp.
  float* x = nullptr;                // [rows, D] residual stream
  float* xb = nullptr;               // [rows, D] normed input
  float* partial = nullptr;          // [rows, D] o/down output (partial sums until all-reduced)
  float* q = nullptr;                // [rows, H_l*hd]
  float* k = nullptr;                // [rows, K_l*hd]
  float* v = nullptr;                // [rows, K_l*hd]
  float* attn = nullptr;             // [rows, H_l*hd] attention output
  float* scores = nullptr;           // [H_l, T, S] attention scores
  float* gate = nullptr;             // [rows, I_l]
  float* up = nullptr;               // [rows, I_l]
  float* logits = nullptr;           // [B_l, V_l] last position per sequence
  float* logits_gathered = nullptr;  // [mp, B_l, V_l] = all V per sequence (when vocab-sharded)
  float* reduced = nullptr;          // [rows, D] all-reduce output (comm; = partial when mp = 1)
  // MoE (null for dense models) and attention sinks (null without them).
  float* router = nullptr;          // [rows, E] router logits
  int32_t* topk_ids = nullptr;      // [rows, k] chosen experts, best first
  float* topk_weights = nullptr;    // [rows, k] their weights
  int32_t* expert_rows = nullptr;   // [rows] the tokens routed to one expert
  float* expert_weights = nullptr;  // [rows] and their weights
  float* expert_in = nullptr;       // [rows, D] their normed input, gathered
  float* expert_out = nullptr;      // [rows, D] the expert's output
  float* sinks = nullptr;           // [H_l] the layer's sinks as fp32
  int64_t rows = 0;
  uint64_t bytes = 0;

 private:
  std::vector<DeviceBuffer<std::byte>> buffers_;
  DeviceBuffer<float> comm_;
};

}  // namespace meshlm

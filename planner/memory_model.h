// The memory model (DESIGN.md §6): bytes of weights (with quantization block
// scales), KV cache, activations, communication buffers and the runtime
// reserve, per device. All figures are exact byte counts.
//
// Weight storage:
//   fp32 / bf16 / fp16: every tensor in that dtype.
//   int8 / int4: tensors of rank >= 2 are quantized in blocks of kQuantBlock (32)
//     consecutive elements along the last (input) dimension, each block with one
//     bf16 scale: int8 = 8.5 bits and int4 = 4.5 bits per element. Rank-1 tensors
//     (norms, biases, sinks) stay bf16.
// KV cache: fp32, bf16 or fp16; or int8 with one bf16 scale per (position, KV
//   head) for each of K and V (hd + 2 bytes per head and position).
// Activations: arch/device_bytes.h (what the runtime allocates), fp32.
// Comm buffers: one fp32 staging buffer [rows, D] for the all-reduces when mp > 1.
// Reserve: 10% of device memory by default (vLLM and TensorRT-LLM use 90%),
//   configurable as a fraction or as bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "arch/device_bytes.h"
#include "arch/model_config.h"
#include "planner/layout.h"

namespace meshlm {

inline constexpr double kDefaultReserveFraction = 0.10;

struct Reserve {
  double fraction = kDefaultReserveFraction;  // of device memory, used when bytes is unset
  std::optional<uint64_t> bytes;
  uint64_t for_capacity(uint64_t capacity) const;
  std::string describe() const;  // "10% of device memory" or "2.00 GiB"
  // "10%", "0.1", "2GiB", "2000000000".
  static Reserve parse(const std::string& text);
};

struct MemorySettings {
  uint64_t capacity = 0;  // bytes per device
  Reserve reserve;
  DType kv_dtype = DType::bf16;
  int64_t prefill_chunk = 0;  // 0 = seq_len
};

struct MemoryBreakdown {
  uint64_t capacity = 0;
  uint64_t weights = 0;
  uint64_t kv_cache = 0;
  uint64_t activations = 0;
  uint64_t comm = 0;
  uint64_t reserve = 0;
  uint64_t used() const { return weights + kv_cache + activations + comm + reserve; }
  bool fits() const { return used() <= capacity; }
  int64_t free() const { return static_cast<int64_t>(capacity) - static_cast<int64_t>(used()); }
};

// Per-device bytes of `layout` holding batch_local sequences of seq_len positions.
MemoryBreakdown memory_for(const ModelConfig& config, const MeshLayout& layout,
                           const MemorySettings& settings, int64_t batch_local, int64_t seq_len);
// Largest batch_local that fits at seq_len (0 when not even one sequence fits).
int64_t max_batch_local(const ModelConfig& config, const MeshLayout& layout,
                        const MemorySettings& settings, int64_t seq_len);
// Longest seq_len <= limit at which batch_local sequences fit (0 when none).
int64_t max_seq_len(const ModelConfig& config, const MeshLayout& layout,
                    const MemorySettings& settings, int64_t batch_local, int64_t limit);

}  // namespace meshlm

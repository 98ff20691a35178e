// The memory model: exact bytes per device of weights (int8/int4 with bf16
// block scales), KV cache (sliding windows, int8 scales), activations
// (the activation-buffer list the runtime allocates), comm buffers and the
// runtime reserve (default 10%); max batch and max sequence length searches.
// Formulas: docs/DESIGN.md §6.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "planner/activations.h"
#include "planner/layout.h"
#include "planner/model_config.h"

namespace meshlm {

inline constexpr int64_t kQuantBlock = 32;
inline constexpr DType kQuantScaleDType = DType::bf16;
inline constexpr double kDefaultReserveFraction = 0.10;

bool is_quantized(DType t);  // int8, int4
// The dtype a tensor is stored in when weights are `weight_dtype`.
DType storage_dtype(const Shape& shape, DType weight_dtype);
// Bytes of a (shard) shape stored in `dtype`, block scales included.
uint64_t weight_bytes(const Shape& shape, DType dtype);
// Throws unless the KV dtype is fp32, bf16, fp16 or int8.
void check_kv_dtype(DType kv_dtype);
// Bytes of one head's K (or V) vector at one position, scale included.
uint64_t kv_bytes_per_head_position(int64_t head_dim, DType kv_dtype);
// KV bytes one token adds on a device holding kv_heads_local heads, ignoring
// sliding windows: 2 * L * K_local * hd * bytes.
uint64_t kv_bytes_per_token(const ModelConfig& config, int64_t kv_heads_local, DType kv_dtype);
// KV cache of batch_local sequences of seq_len positions on one device:
// batch_local * sum over layers of 2 * K_local * kv_positions(l, seq_len) * hd * bytes.
uint64_t kv_cache_bytes(const ModelConfig& config, int64_t kv_heads_local, int64_t batch_local,
                        int64_t seq_len, DType kv_dtype);

// The activation shape the runtime allocates for: rows = max(chunk, batch_local),
// query tokens = chunk (= min(prefill_chunk, seq_len); 0 means seq_len).
ActivationShape activation_shape(int64_t batch_local, int64_t seq_len, int64_t prefill_chunk);
int64_t effective_chunk(int64_t prefill_chunk, int64_t seq_len);
// fp32 staging buffer [rows, D] for the mp all-reduces; 0 when mp = 1.
uint64_t comm_buffer_bytes(const ModelConfig& config, const MeshLayout& layout,
                           const ActivationShape& shape);

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

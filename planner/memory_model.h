// The memory model: exact bytes per device of weights, KV cache, activations
// and comm buffers (the formulas of arch/device_bytes.h, shared with the
// runtime) and the runtime reserve (default 10%); max batch and max sequence
// length searches. Formulas: docs/DESIGN.md §6.
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

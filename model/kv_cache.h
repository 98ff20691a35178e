// The KV cache of one device: per layer, keys and values
// [batch_local, kv_heads_local, capacity, hd] in the plan's KV dtype (fp32,
// bf16, or int8 rows of hd values + a bf16 scale, model/ops/quant.h), allocated
// once (category kv_cache) and written in place; a sliding-window layer is a
// ring buffer (position p at row p % capacity). docs/DESIGN.md §4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "arch/model_config.h"
#include "arch/shard_layout.h"
#include "mesh/device_memory.h"

namespace meshlm {

class KVCache {
 public:
  KVCache(DeviceMemory& memory, const ModelConfig& config, const ShardLayout& layout);

  DType dtype() const { return dtype_; }
  int64_t capacity(int64_t layer) const { return capacity_[static_cast<size_t>(layer)]; }
  int64_t kv_heads() const { return kv_heads_; }
  uint64_t bytes() const;

  // [kv_heads, capacity, hd] of sequence slot `slot` in layer `layer`.
  const void* keys(int64_t layer, int64_t slot) const {
    return keys_[static_cast<size_t>(layer)].data() + slot_offset(layer, slot);
  }
  const void* values(int64_t layer, int64_t slot) const {
    return values_[static_cast<size_t>(layer)].data() + slot_offset(layer, slot);
  }

  // Stores one token's k, v [kv_heads, hd] (fp32) at position `pos`.
  void write(int64_t layer, int64_t slot, int64_t pos, const float* k, const float* v);

 private:
  size_t slot_offset(int64_t layer, int64_t slot) const;  // bytes
  size_t row_bytes() const;  // one head at one position (hd values, + scale for int8)

  DType dtype_;
  int64_t batch_, kv_heads_, head_dim_;
  std::vector<int64_t> capacity_;                // [L]
  std::vector<DeviceBuffer<std::byte>> keys_;    // [L] x [B_l, K_l, capacity, hd]
  std::vector<DeviceBuffer<std::byte>> values_;  // [L] x [B_l, K_l, capacity, hd]
};

}  // namespace meshlm

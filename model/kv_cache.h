// The KV cache of one device: per layer, a pool of blocks of keys and values
// [num_blocks, kv_heads_local, block_size, hd] in the plan's KV dtype (fp32,
// bf16, or int8 rows of hd values + a bf16 scale, model/ops/quant.h),
// allocated once (category kv_cache) and written in place. Each sequence slot
// reads and writes its blocks through a block table (model/ops/attention.h
// KvSeqView). docs/DESIGN.md §4.
//
//   static (KvPaging{}): mesh-run generate's fixed batch — slot s owns block s
//     of each layer, one block of the layer's whole capacity (seq_len, or the
//     window of a sliding layer: a ring buffer).
//   paged (KvPaging{block_size, num_blocks, num_window_blocks}): mesh-run
//     serve — the full-attention layers share a pool of num_blocks blocks of
//     block_size positions, the ring-buffer (sliding-window) layers one of
//     num_window_blocks (arch/device_bytes.h PagedKvGeometry); the scheduler
//     hands blocks out and sets each slot's tables (set_block_table), the
//     same ids in every layer of a pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "arch/device_bytes.h"
#include "arch/model_config.h"
#include "arch/shard_layout.h"
#include "mesh/device_memory.h"
#include "model/ops/attention.h"

namespace meshlm {

struct KvPaging {
  int64_t block_size = 0;         // positions per block; 0 = static
  int64_t num_blocks = 0;         // full-attention layers' pool
  int64_t num_window_blocks = 0;  // ring-buffer layers' pool (0 without such layers)

  bool paged() const { return block_size > 0; }
};

class KVCache {
 public:
  KVCache(DeviceMemory& memory, const ModelConfig& config, const ShardLayout& layout,
          const KvPaging& paging = {});

  DType dtype() const { return dtype_; }
  const KvPaging& paging() const { return paging_; }
  int64_t kv_heads() const { return kv_heads_; }
  uint64_t bytes() const;

  // Paged only: the ring geometry, and slot's blocks for positions
  // 0 .. blocks.size()*block_size-1 (at most ceil(seq_len / block_size) ids,
  // each < num_blocks) and its ring of geometry().window_blocks ids of the
  // window pool (empty when there are no ring layers).
  const PagedKvGeometry& geometry() const { return geometry_; }
  void set_block_table(int32_t slot, std::span<const int32_t> blocks,
                       std::span<const int32_t> window_blocks);

  // Sequence slot `slot`'s keys and values in layer `layer`.
  KvSeqView view(int64_t layer, int32_t slot) const;

  // Stores one token's k, v [kv_heads, hd] (fp32) at position `pos`.
  void write(int64_t layer, int32_t slot, int64_t pos, const float* k, const float* v);

 private:
  struct Layer {
    int64_t block_size, num_blocks, ring;
    bool window;                           // reads the window tables
    DeviceBuffer<std::byte> keys, values;  // [num_blocks, K_l, block_size, hd]
  };
  size_t row_bytes() const;  // one head at one position (hd values, + scale for int8)
  const int32_t* table(const Layer& L, int32_t slot) const;

  DType dtype_;
  KvPaging paging_;
  PagedKvGeometry geometry_;
  int64_t batch_, kv_heads_, head_dim_, table_len_;
  std::vector<Layer> layers_;           // [L]
  std::vector<int32_t> tables_;         // [B_l, table_len] block ids (static: slot s -> {s})
  std::vector<int32_t> window_tables_;  // [B_l, window_blocks] ring blocks
};

}  // namespace meshlm

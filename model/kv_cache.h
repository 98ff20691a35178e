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
//   paged (KvPaging{block_size, num_blocks}): mesh-run serve — every layer has
//     num_blocks blocks of block_size positions; the scheduler hands them out
//     and sets each slot's table (set_block_table), the same ids in every layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "arch/model_config.h"
#include "arch/shard_layout.h"
#include "mesh/device_memory.h"
#include "model/ops/attention.h"

namespace meshlm {

struct KvPaging {
  int64_t block_size = 0;  // positions per block; 0 = static
  int64_t num_blocks = 0;  // blocks per layer when paged

  bool paged() const { return block_size > 0; }
  // Table entries a sequence of seq_len positions needs.
  int64_t blocks_per_seq(int64_t seq_len) const { return (seq_len + block_size - 1) / block_size; }
};

class KVCache {
 public:
  KVCache(DeviceMemory& memory, const ModelConfig& config, const ShardLayout& layout,
          const KvPaging& paging = {});

  DType dtype() const { return dtype_; }
  const KvPaging& paging() const { return paging_; }
  int64_t kv_heads() const { return kv_heads_; }
  uint64_t bytes() const;

  // Paged only: slot's blocks for positions 0 .. blocks.size()*block_size-1
  // (at most blocks_per_seq(seq_len) ids, each < num_blocks).
  void set_block_table(int32_t slot, std::span<const int32_t> blocks);

  // Sequence slot `slot`'s keys and values in layer `layer`.
  KvSeqView view(int64_t layer, int32_t slot) const;

  // Stores one token's k, v [kv_heads, hd] (fp32) at position `pos`.
  void write(int64_t layer, int32_t slot, int64_t pos, const float* k, const float* v);

 private:
  struct Layer {
    int64_t block_size, num_blocks, ring;
    DeviceBuffer<std::byte> keys, values;  // [num_blocks, K_l, block_size, hd]
  };
  size_t row_bytes() const;                // one head at one position (hd values, + scale for int8)
  size_t table_begin(int32_t slot) const;  // index of slot's table in tables_

  DType dtype_;
  KvPaging paging_;
  int64_t batch_, kv_heads_, head_dim_, table_len_;
  std::vector<Layer> layers_;    // [L]
  std::vector<int32_t> tables_;  // [B_l, table_len] block ids (static: slot s -> {s})
};

}  // namespace meshlm

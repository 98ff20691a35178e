#include "model/kv_cache.h"

#include <algorithm>
#include <string>

#include "arch/device_bytes.h"
#include "model/ops/quant.h"
#include "model/ops/typed.h"
#include "sharding/error.h"

namespace meshlm {

KVCache::KVCache(DeviceMemory& memory, const ModelConfig& c, const ShardLayout& layout,
                 const KvPaging& paging)
    : dtype_(layout.kv_dtype),
      paging_(paging),
      batch_(layout.batch_local),
      kv_heads_(layout.kv_heads.size),
      head_dim_(c.head_dim),
      table_len_(1) {
  if (paging.paged()) {
    geometry_ = paged_kv_geometry(c, kv_heads_, paging.block_size, layout.seq_len, dtype_);
    table_len_ = geometry_.full_blocks(layout.seq_len);
    MESHLM_CHECK(
        paging.num_blocks >= 1 && (geometry_.window_blocks == 0 || paging.num_window_blocks >= 1),
        "a paged KV cache of " << paging.num_blocks << " + " << paging.num_window_blocks
                               << " window blocks");
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    Layer L;
    L.window = paging.paged() && geometry_.ring_layer[static_cast<size_t>(l)];
    if (!paging.paged()) {
      L.block_size = c.kv_positions(l, layout.seq_len);
      L.num_blocks = batch_;
      L.ring = 1;
    } else {
      L.block_size = paging.block_size;
      L.num_blocks = L.window ? paging.num_window_blocks : paging.num_blocks;
      L.ring = L.window ? geometry_.window_blocks : table_len_;
    }
    const uint64_t bytes =
        static_cast<uint64_t>(L.num_blocks * kv_heads_ * L.block_size) * row_bytes();
    const std::string layer = "layer " + std::to_string(l);
    L.keys = DeviceBuffer<std::byte>(memory, MemCategory::kv_cache, bytes, layer + " keys");
    L.values = DeviceBuffer<std::byte>(memory, MemCategory::kv_cache, bytes, layer + " values");
    layers_.push_back(std::move(L));
  }
  tables_.assign(static_cast<size_t>(batch_ * table_len_), paging.paged() ? -1 : 0);
  window_tables_.assign(static_cast<size_t>(batch_ * geometry_.window_blocks), -1);
  if (!paging.paged())
    for (int64_t s = 0; s < batch_; ++s) tables_[static_cast<size_t>(s)] = static_cast<int32_t>(s);
}

uint64_t KVCache::bytes() const {
  uint64_t total = 0;
  for (const Layer& L : layers_) total += L.keys.bytes() + L.values.bytes();
  return total;
}

size_t KVCache::row_bytes() const {
  return kv_bytes_per_head_position(head_dim_, dtype_);
}

const int32_t* KVCache::table(const Layer& L, int32_t slot) const {
  MESHLM_CHECK(slot >= 0 && slot < batch_,
               "KV cache slot " << slot << " outside 0.." << batch_ - 1);
  return L.window ? window_tables_.data() + static_cast<size_t>(slot * geometry_.window_blocks)
                  : tables_.data() + static_cast<size_t>(slot * table_len_);
}

void KVCache::set_block_table(int32_t slot, std::span<const int32_t> blocks,
                              std::span<const int32_t> window_blocks) {
  MESHLM_CHECK(paging_.paged(), "set_block_table on a static KV cache");
  MESHLM_CHECK(slot >= 0 && slot < batch_,
               "KV cache slot " << slot << " outside 0.." << batch_ - 1);
  MESHLM_CHECK(static_cast<int64_t>(blocks.size()) <= table_len_,
               blocks.size() << " blocks for a sequence of at most " << table_len_);
  MESHLM_CHECK(static_cast<int64_t>(window_blocks.size()) == geometry_.window_blocks,
               window_blocks.size()
                   << " window blocks, the ring needs " << geometry_.window_blocks);
  auto copy = [](std::span<const int32_t> from, int32_t* to, int64_t len, int64_t pool) {
    for (size_t i = 0; i < from.size(); ++i) {
      MESHLM_CHECK(from[i] >= 0 && from[i] < pool,
                   "KV block " << from[i] << " outside 0.." << pool - 1);
      to[i] = from[i];
    }
    std::fill(to + from.size(), to + len, -1);
  };
  copy(blocks, tables_.data() + static_cast<size_t>(slot * table_len_), table_len_,
       paging_.num_blocks);
  copy(window_blocks, window_tables_.data() + static_cast<size_t>(slot * geometry_.window_blocks),
       geometry_.window_blocks, paging_.num_window_blocks);
}

KvSeqView KVCache::view(int64_t layer, int32_t slot) const {
  const Layer& L = layers_[static_cast<size_t>(layer)];
  return KvSeqView{L.keys.data(), L.values.data(), table(L, slot), L.ring, L.block_size, dtype_};
}

void KVCache::write(int64_t layer, int32_t slot, int64_t pos, const float* k, const float* v) {
  Layer& L = layers_[static_cast<size_t>(layer)];
  const int32_t block = table(L, slot)[(pos / L.block_size) % L.ring];
  MESHLM_CHECK(block >= 0, "slot " << slot << " has no KV block for position " << pos);
  const size_t rb = row_bytes();
  const size_t base = static_cast<size_t>(block * kv_heads_ * L.block_size) * rb +
                      static_cast<size_t>(pos % L.block_size) * rb;
  std::byte* kc = L.keys.data() + base;
  std::byte* vc = L.values.data() + base;
  for (int64_t h = 0; h < kv_heads_; ++h) {
    const size_t at = static_cast<size_t>(h * L.block_size) * rb;
    const float* kh = k + h * head_dim_;
    const float* vh = v + h * head_dim_;
    if (dtype_ == DType::i8) {
      quantize_kv_row(kh, head_dim_, kc + at);
      quantize_kv_row(vh, head_dim_, vc + at);
      continue;
    }
    with_storage_type(dtype_, [&](auto tag) {
      using T = decltype(tag);
      T* kd = reinterpret_cast<T*>(kc + at);
      T* vd = reinterpret_cast<T*>(vc + at);
      for (int64_t i = 0; i < head_dim_; ++i) {
        from_f32(kh[i], kd + i);
        from_f32(vh[i], vd + i);
      }
    });
  }
}

}  // namespace meshlm

#include "model/kv_cache.h"

#include <string>

#include "model/ops/quant.h"
#include "model/ops/typed.h"

namespace meshlm {

KVCache::KVCache(DeviceMemory& memory, const ModelConfig& c, const ShardLayout& layout)
    : dtype_(layout.kv_dtype),
      batch_(layout.batch_local),
      kv_heads_(layout.kv_heads.size),
      head_dim_(c.head_dim) {
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const int64_t cap = c.kv_positions(l, layout.seq_len);
    capacity_.push_back(cap);
    const uint64_t bytes = static_cast<uint64_t>(batch_ * kv_heads_ * cap) *
                           kv_bytes_per_head_position(head_dim_, dtype_);
    const std::string layer = "layer " + std::to_string(l);
    keys_.emplace_back(memory, MemCategory::kv_cache, bytes, layer + " keys");
    values_.emplace_back(memory, MemCategory::kv_cache, bytes, layer + " values");
  }
}

uint64_t KVCache::bytes() const {
  uint64_t total = 0;
  for (size_t l = 0; l < keys_.size(); ++l) total += keys_[l].bytes() + values_[l].bytes();
  return total;
}

size_t KVCache::row_bytes() const {
  return kv_bytes_per_head_position(head_dim_, dtype_);
}

size_t KVCache::slot_offset(int64_t layer, int64_t slot) const {
  return static_cast<size_t>(slot * kv_heads_ * capacity_[static_cast<size_t>(layer)]) *
         row_bytes();
}

void KVCache::write(int64_t layer, int64_t slot, int64_t pos, const float* k, const float* v) {
  MESHLM_CHECK(slot >= 0 && slot < batch_,
               "KV cache slot " << slot << " outside 0.." << batch_ - 1);
  const int64_t cap = capacity_[static_cast<size_t>(layer)];
  const int64_t row = pos % cap;
  const size_t off = slot_offset(layer, slot), rb = row_bytes();
  std::byte* kc = keys_[static_cast<size_t>(layer)].data() + off;
  std::byte* vc = values_[static_cast<size_t>(layer)].data() + off;
  for (int64_t h = 0; h < kv_heads_; ++h) {
    const size_t at = static_cast<size_t>(h * cap + row) * rb;
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

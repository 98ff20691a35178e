#include "model/kv_cache.h"

#include <string>

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
    const uint64_t bytes =
        dtype_bytes(dtype_, static_cast<uint64_t>(batch_ * kv_heads_ * cap * head_dim_));
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

size_t KVCache::slot_offset(int64_t layer, int64_t slot) const {
  return static_cast<size_t>(slot) *
         dtype_bytes(dtype_, static_cast<uint64_t>(
                                 kv_heads_ * capacity_[static_cast<size_t>(layer)] * head_dim_));
}

void KVCache::write(int64_t layer, int64_t slot, int64_t pos, const float* k, const float* v) {
  MESHLM_CHECK(slot >= 0 && slot < batch_,
               "KV cache slot " << slot << " outside 0.." << batch_ - 1);
  const int64_t cap = capacity_[static_cast<size_t>(layer)];
  const int64_t row = pos % cap;
  with_storage_type(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const size_t off = slot_offset(layer, slot);
    T* kc = reinterpret_cast<T*>(keys_[static_cast<size_t>(layer)].data() + off);
    T* vc = reinterpret_cast<T*>(values_[static_cast<size_t>(layer)].data() + off);
    for (int64_t h = 0; h < kv_heads_; ++h) {
      T* kd = kc + (h * cap + row) * head_dim_;
      T* vd = vc + (h * cap + row) * head_dim_;
      for (int64_t i = 0; i < head_dim_; ++i) {
        from_f32(k[h * head_dim_ + i], kd + i);
        from_f32(v[h * head_dim_ + i], vd + i);
      }
    }
  });
}

}  // namespace meshlm

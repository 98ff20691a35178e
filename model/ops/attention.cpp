#include "model/ops/attention.h"

#include <algorithm>
#include <cmath>

#include "model/ops/typed.h"
#include "sharding/error.h"

namespace meshlm {

void softmax(float* x, int64_t n) {
  float max_val = x[0];
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > max_val) max_val = x[i];
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = expf(x[i] - max_val);
    sum += x[i];
  }
  for (int64_t i = 0; i < n; ++i) x[i] /= sum;
}

void attend(const float* q, const void* k_cache, const void* v_cache, DType kv_dtype,
            const AttentionDims& d, int64_t pos, float* scores, float* out) {
  int64_t first = d.window > 0 ? std::max<int64_t>(0, pos - d.window + 1) : 0;
  MESHLM_CHECK(pos - first < d.capacity,
               "attention at position " << pos << " needs " << pos - first + 1
                                        << " cached positions, the cache holds " << d.capacity);
  const int64_t hd = d.head_dim, n = pos - first + 1;
  const float scale = sqrtf(static_cast<float>(hd));
  with_storage_type(kv_dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* kc = static_cast<const T*>(k_cache);
    const T* vc = static_cast<const T*>(v_cache);
    for (int64_t h = 0; h < d.heads; ++h) {
      const int64_t kvh = (d.q_head0 + h) / d.group - d.kv_head0;
      MESHLM_CHECK(kvh >= 0 && kvh < d.kv_heads,
                   "query head " << d.q_head0 + h << " needs KV head " << kvh + d.kv_head0
                                 << " which this device does not hold");
      const float* qh = q + h * hd;
      const T* kh = kc + kvh * d.capacity * hd;
      const T* vh = vc + kvh * d.capacity * hd;
      for (int64_t t = 0; t < n; ++t) {
        const T* kt = kh + ((first + t) % d.capacity) * hd;
        float score = 0.0f;
        for (int64_t i = 0; i < hd; ++i) score += qh[i] * to_f32(kt[i]);
        scores[t] = score / scale;
      }
      softmax(scores, n);
      float* oh = out + h * hd;
      for (int64_t i = 0; i < hd; ++i) oh[i] = 0.0f;
      for (int64_t t = 0; t < n; ++t) {
        const T* vt = vh + ((first + t) % d.capacity) * hd;
        const float a = scores[t];
        for (int64_t i = 0; i < hd; ++i) oh[i] += a * to_f32(vt[i]);
      }
    }
  });
}

}  // namespace meshlm

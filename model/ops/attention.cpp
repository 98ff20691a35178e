#include "model/ops/attention.h"

#include <algorithm>
#include <cmath>

#include "arch/device_bytes.h"
#include "model/ops/quant.h"
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

void softmax_with_sink(float* x, int64_t n, float sink) {
  float max_val = sink;
  for (int64_t i = 0; i < n; ++i)
    if (x[i] > max_val) max_val = x[i];
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = expf(x[i] - max_val);
    sum += x[i];
  }
  sum += expf(sink - max_val);  // the sink is the last column
  for (int64_t i = 0; i < n; ++i) x[i] /= sum;
}

namespace {

// The rows of a KV cache head in its dtype, read as fp32: a pointer into the
// cache for fp32, else widened or dequantized into `buf` (hd floats).
struct KvRows {
  const std::byte* base;
  DType dtype;
  int64_t hd;
  size_t row_bytes;
  const float* row(int64_t index, float* buf) const {
    const std::byte* p = base + static_cast<size_t>(index) * row_bytes;
    switch (dtype) {
      case DType::f32:
        return reinterpret_cast<const float*>(p);
      case DType::bf16:
        for (int64_t i = 0; i < hd; ++i)
          buf[i] = bf16_to_float(reinterpret_cast<const bf16*>(p)[i]);
        return buf;
      case DType::f16:
        for (int64_t i = 0; i < hd; ++i)
          buf[i] = fp16_to_float(reinterpret_cast<const fp16*>(p)[i].bits);
        return buf;
      default:
        dequantize_kv_row(p, hd, buf);
        return buf;
    }
  }
};

}  // namespace

void attend(const float* q, const void* k_cache, const void* v_cache, DType kv_dtype,
            const AttentionDims& d, int64_t pos, float* scores, float* out) {
  int64_t first = d.window > 0 ? std::max<int64_t>(0, pos - d.window + 1) : 0;
  MESHLM_CHECK(pos - first < d.capacity,
               "attention at position " << pos << " needs " << pos - first + 1
                                        << " cached positions, the cache holds " << d.capacity);
  MESHLM_CHECK(kv_dtype == DType::f32 || kv_dtype == DType::bf16 || kv_dtype == DType::f16 ||
                   kv_dtype == DType::i8,
               "KV cache dtype " << dtype_name(kv_dtype));
  const int64_t hd = d.head_dim, n = pos - first + 1;
  constexpr int64_t kMaxHeadDim = 1024;
  MESHLM_CHECK(hd <= kMaxHeadDim, "head_dim " << hd << " above " << kMaxHeadDim);
  float buf[kMaxHeadDim];
  const float scale = sqrtf(static_cast<float>(hd));
  const size_t row_bytes = kv_bytes_per_head_position(hd, kv_dtype);
  for (int64_t h = 0; h < d.heads; ++h) {
    const int64_t kvh = (d.q_head0 + h) / d.group - d.kv_head0;
    MESHLM_CHECK(kvh >= 0 && kvh < d.kv_heads, "query head " << d.q_head0 + h << " needs KV head "
                                                             << kvh + d.kv_head0
                                                             << " which this device does not hold");
    const float* qh = q + h * hd;
    const size_t head0 = static_cast<size_t>(kvh * d.capacity) * row_bytes;
    const KvRows keys{static_cast<const std::byte*>(k_cache) + head0, kv_dtype, hd, row_bytes};
    const KvRows values{static_cast<const std::byte*>(v_cache) + head0, kv_dtype, hd, row_bytes};
    for (int64_t t = 0; t < n; ++t) {
      const float* kt = keys.row((first + t) % d.capacity, buf);
      float score = 0.0f;
      for (int64_t i = 0; i < hd; ++i) score += qh[i] * kt[i];
      scores[t] = score / scale;
    }
    if (d.sinks)
      softmax_with_sink(scores, n, d.sinks[h]);
    else
      softmax(scores, n);
    float* oh = out + h * hd;
    for (int64_t i = 0; i < hd; ++i) oh[i] = 0.0f;
    for (int64_t t = 0; t < n; ++t) {
      const float* vt = values.row((first + t) % d.capacity, buf);
      const float a = scores[t];
      for (int64_t i = 0; i < hd; ++i) oh[i] += a * vt[i];
    }
  }
}

}  // namespace meshlm

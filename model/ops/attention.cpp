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

KvSeqView KvSeqView::contiguous(const void* keys, const void* values, DType dtype,
                                int64_t capacity) {
  static constexpr int32_t kFirstBlock = 0;
  return KvSeqView{static_cast<const std::byte*>(keys),
                   static_cast<const std::byte*>(values),
                   &kFirstBlock,
                   1,
                   capacity,
                   dtype};
}

namespace {

// The rows of one KV head of a sequence in its dtype, read as fp32: a pointer
// into the cache for fp32, else widened or dequantized into `buf` (hd floats).
struct KvRows {
  const std::byte* pool;
  const KvSeqView& kv;
  size_t head_offset;  // bytes from a block's start to this head's rows
  size_t row_bytes;
  size_t block_bytes;
  int64_t hd;
  const float* row(int64_t pos, float* buf) const {
    const int64_t block = kv.table[(pos / kv.block_size) % kv.ring];
    const std::byte* p = pool + static_cast<size_t>(block) * block_bytes + head_offset +
                         static_cast<size_t>(pos % kv.block_size) * row_bytes;
    switch (kv.dtype) {
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

void attend(const float* q, const KvSeqView& kv, const AttentionDims& d, int64_t pos, float* scores,
            float* out) {
  int64_t first = d.window > 0 ? std::max<int64_t>(0, pos - d.window + 1) : 0;
  MESHLM_CHECK(pos - first < kv.capacity(),
               "attention at position " << pos << " needs " << pos - first + 1
                                        << " cached positions, the cache holds " << kv.capacity());
  const DType kv_dtype = kv.dtype;
  MESHLM_CHECK(kv_dtype == DType::f32 || kv_dtype == DType::bf16 || kv_dtype == DType::f16 ||
                   kv_dtype == DType::i8,
               "KV cache dtype " << dtype_name(kv_dtype));
  const int64_t hd = d.head_dim, n = pos - first + 1;
  constexpr int64_t kMaxHeadDim = 1024;
  MESHLM_CHECK(hd <= kMaxHeadDim, "head_dim " << hd << " above " << kMaxHeadDim);
  float buf[kMaxHeadDim];
  const float scale = sqrtf(static_cast<float>(hd));
  const size_t row_bytes = kv_bytes_per_head_position(hd, kv_dtype);
  const size_t block_bytes = static_cast<size_t>(d.kv_heads * kv.block_size) * row_bytes;
  for (int64_t h = 0; h < d.heads; ++h) {
    const int64_t kvh = (d.q_head0 + h) / d.group - d.kv_head0;
    MESHLM_CHECK(kvh >= 0 && kvh < d.kv_heads, "query head " << d.q_head0 + h << " needs KV head "
                                                             << kvh + d.kv_head0
                                                             << " which this device does not hold");
    const float* qh = q + h * hd;
    const size_t head0 = static_cast<size_t>(kvh * kv.block_size) * row_bytes;
    const KvRows keys{kv.keys, kv, head0, row_bytes, block_bytes, hd};
    const KvRows values{kv.values, kv, head0, row_bytes, block_bytes, hd};
    for (int64_t t = 0; t < n; ++t) {
      const float* kt = keys.row(first + t, buf);
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
      const float* vt = values.row(first + t, buf);
      const float a = scores[t];
      for (int64_t i = 0; i < hd; ++i) oh[i] += a * vt[i];
    }
  }
}

}  // namespace meshlm

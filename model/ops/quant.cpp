#include "model/ops/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/ops/mxfp4.h"
#include "sharding/error.h"

namespace meshlm {

namespace {
int qmax(DType t) {
  MESHLM_CHECK(t == DType::i8 || t == DType::i4,
               "not an integer quantized dtype (int8, int4): " << dtype_name(t));
  return t == DType::i8 ? kInt8Max : kInt4Max;
}

// Bytes of one row's block scales.
int64_t scale_row_bytes(DType t, int64_t cols) {
  return static_cast<int64_t>(
      dtype_bytes(quant_scale_dtype(t), static_cast<uint64_t>(quant_blocks(cols))));
}
}  // namespace

int64_t quant_blocks(int64_t cols) {
  return (cols + kQuantBlock - 1) / kQuantBlock;
}

int64_t quant_row_bytes(DType t, int64_t cols) {
  return static_cast<int64_t>(dtype_bytes(t, static_cast<uint64_t>(cols)));
}

uint64_t quant_matrix_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<uint64_t>(rows) *
         static_cast<uint64_t>(quant_row_bytes(t, cols) + scale_row_bytes(t, cols));
}

bf16 quant_scale(const float* w, int64_t n, DType t) {
  float amax = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    amax = std::max(amax, std::fabs(w[i]));
    finite = finite && std::isfinite(w[i]);
  }
  // A NaN or Inf in the block makes the scale NaN: the block dequantizes to
  // NaN, as an fp32 run would propagate it (never silent garbage).
  if (!finite) return float_to_bf16(std::numeric_limits<float>::quiet_NaN());
  return float_to_bf16(amax / static_cast<float>(qmax(t)));
}

void quantize_values(const float* w, int64_t n, bf16 s, DType t, int8_t* q) {
  const float qm = static_cast<float>(qmax(t)), sf = bf16_to_float(s);
  // Round half to even (the default rounding mode), then clamp; 0 where the
  // quotient is not a number (a zero or NaN scale).
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::nearbyint(w[i] / sf);
    q[i] = static_cast<int8_t>(sf == 0.0f || std::isnan(v) ? 0.0f : std::clamp(v, -qm, qm));
  }
}

void quantize_kv_row(const float* v, int64_t hd, std::byte* row) {
  const bf16 s = quant_scale(v, hd, DType::i8);
  quantize_values(v, hd, s, DType::i8, reinterpret_cast<int8_t*>(row));
  std::memcpy(row + hd, &s, sizeof s);
}

void dequantize_kv_row(const std::byte* row, int64_t hd, float* out) {
  bf16 s;
  std::memcpy(&s, row + hd, sizeof s);
  const float sf = bf16_to_float(s);
  const auto* q = reinterpret_cast<const int8_t*>(row);
  for (int64_t i = 0; i < hd; ++i) out[i] = static_cast<float>(q[i]) * sf;
}

void quantize_rows(const float* src, int64_t rows, int64_t cols, int64_t ld, DType t, bf16* scales,
                   std::byte* out_data) {
  MESHLM_CHECK(t != DType::mxfp4,
               "quantize_rows: mxfp4 has E8M0 exponents, not bf16 scales (quantize_rows_mxfp4)");
  const int64_t row_bytes = quant_row_bytes(t, cols), blocks = quant_blocks(cols);
  auto* data = reinterpret_cast<uint8_t*>(out_data);
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = src + r * ld;
    uint8_t* d = data + r * row_bytes;
    if (t == DType::i4) std::memset(d, 0, static_cast<size_t>(row_bytes));
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t k0 = b * kQuantBlock, n = std::min<int64_t>(kQuantBlock, cols - k0);
      const bf16 s = quant_scale(w + k0, n, t);
      scales[r * blocks + b] = s;
      int8_t q[kQuantBlock];
      quantize_values(w + k0, n, s, t, q);
      for (int64_t k = k0; k < k0 + n; ++k) {
        if (t == DType::i8)
          d[k] = static_cast<uint8_t>(q[k - k0] + kInt8Offset);
        else
          d[k / 2] |= static_cast<uint8_t>((q[k - k0] + kInt4Offset) << (4 * (k % 2)));
      }
    }
  }
}

void quantize_matrix(const float* src, int64_t rows, int64_t cols, int64_t ld, DType t,
                     std::byte* out) {
  std::byte* data = out + rows * scale_row_bytes(t, cols);
  if (t == DType::mxfp4)
    quantize_rows_mxfp4(src, rows, cols, ld, reinterpret_cast<uint8_t*>(out), data);
  else
    quantize_rows(src, rows, cols, ld, t, reinterpret_cast<bf16*>(out), data);
}

QuantMatrix QuantMatrix::of(const void* buffer, DType t, int64_t rows, int64_t cols) {
  QuantMatrix m;
  m.dtype = t;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = quant_row_bytes(t, cols);
  m.blocks = quant_blocks(cols);
  if (t == DType::mxfp4)
    m.exponents = static_cast<const uint8_t*>(buffer);
  else
    m.scales = static_cast<const bf16*>(buffer);
  m.data = static_cast<const std::byte*>(buffer) + rows * scale_row_bytes(t, cols);
  return m;
}

int QuantMatrix::q(int64_t r, int64_t k) const {
  const auto* d = reinterpret_cast<const uint8_t*>(data + r * row_bytes);
  if (dtype == DType::i8) return d[k] - kInt8Offset;
  const int nibble = (d[k / 2] >> (4 * (k % 2))) & 0xF;  // int4 and mxfp4
  return dtype == DType::mxfp4 ? nibble : nibble - kInt4Offset;
}

float QuantMatrix::scale(int64_t r, int64_t k) const {
  const int64_t b = r * blocks + k / kQuantBlock;
  return dtype == DType::mxfp4 ? kE8M0Scale[exponents[b]] : bf16_to_float(scales[b]);
}

float QuantMatrix::value(int64_t r, int64_t k) const {
  if (dtype == DType::mxfp4) return kE2M1[q(r, k)] * scale(r, k);
  return static_cast<float>(q(r, k)) * scale(r, k);
}

void QuantMatrix::dequantize_row(int64_t r, int64_t k0, int64_t n, float* out) const {
  for (int64_t i = 0; i < n; ++i) out[i] = value(r, k0 + i);
}

}  // namespace meshlm

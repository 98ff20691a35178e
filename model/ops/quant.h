// Weight-only block quantization (docs/DESIGN.md §5, "Quantized weights"):
// blocks of kQuantBlock (32) consecutive elements along a row (the input
// dimension), one bf16 scale per block, the last block of a row possibly
// shorter. int8: s = bf16(amax / 127), q = clamp(round_half_even(w / s),
// -127, 127), stored as the byte q + 128; int4: the same with 7, stored as
// the nibble q + 8, element 2j of a row in the low nibble of byte j and 2j + 1
// in the high one. s = 0 (and q = 0) when amax = 0. The weight value is
// exactly q * s (linear() also quantizes its input: model/ops/linear_quant.h).
// mxfp4 (E2M1 codes, one E8M0 exponent per block): model/ops/mxfp4.h.
//
// A quantized [rows, cols] matrix is one buffer: the rows' scales (blocks
// each: bf16, or mxfp4's u8 exponents; first, so they stay aligned), then the
// rows' data (row_bytes each) — quant_matrix_bytes() bytes, the planner's
// weight_bytes() (arch/device_bytes.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "arch/device_bytes.h"
#include "sharding/dtype.h"

namespace meshlm {

inline constexpr int kInt8Max = 127;
inline constexpr int kInt4Max = 7;
inline constexpr int kInt8Offset = 128;  // byte = q + 128
inline constexpr int kInt4Offset = 8;    // nibble = q + 8

int64_t quant_blocks(int64_t cols);                  // ceil(cols / 32)
int64_t quant_row_bytes(DType dtype, int64_t cols);  // int8: cols; int4, mxfp4: ceil(cols / 2)
uint64_t quant_matrix_bytes(DType dtype, int64_t rows, int64_t cols);

// int8/int4: the scale of one block of n values (bf16(amax / qmax), 0 when amax = 0).
bf16 quant_scale(const float* w, int64_t n, DType dtype);

// q[i] = clamp(round_half_even(w[i] / s), -qmax, qmax) (0 when s = 0).
void quantize_values(const float* w, int64_t n, bf16 s, DType dtype, int8_t* q);

// An int8 KV cache row (docs/DESIGN.md §4): the hd values of one head at one
// position, one bf16 scale over them: [hd x int8][scale] (hd + 2 bytes).
void quantize_kv_row(const float* v, int64_t hd, std::byte* row);
void dequantize_kv_row(const std::byte* row, int64_t hd, float* out);

// Quantizes src [rows, cols] (row stride ld) to int8/int4: the block scales
// into `scales` (rows x quant_blocks(cols)), the values into `data` (rows x
// quant_row_bytes). mxfp4: quantize_rows_mxfp4 (mxfp4.h).
void quantize_rows(const float* src, int64_t rows, int64_t cols, int64_t ld, DType dtype,
                   bf16* scales, std::byte* data);
// The same (int8, int4 or mxfp4) into one buffer of quant_matrix_bytes() in
// the layout above.
void quantize_matrix(const float* src, int64_t rows, int64_t cols, int64_t ld, DType dtype,
                     std::byte* out);

// A quantized matrix in memory: scale rows then data rows.
struct QuantMatrix {
  const std::byte* data = nullptr;
  const bf16* scales = nullptr;        // int8, int4
  const uint8_t* exponents = nullptr;  // mxfp4: E8M0 block scales
  DType dtype = DType::i8;
  int64_t rows = 0, cols = 0;
  int64_t row_bytes = 0, blocks = 0;  // per row
  static QuantMatrix of(const void* buffer, DType dtype, int64_t rows, int64_t cols);
  // Element (r, k): q is the integer value (int8, int4) or the E2M1 code
  // (mxfp4, 0..15); scale is the block's bf16 scale (int8, int4) or
  // 2^(e - 127) (mxfp4; NaN for e = 255); value is the element as fp32,
  // exactly: q * scale, or kE2M1[q] * scale.
  int q(int64_t r, int64_t k) const;
  float scale(int64_t r, int64_t k) const;
  float value(int64_t r, int64_t k) const;
  // Elements [k0, k0 + n) of row r as fp32 (value(), exact).
  void dequantize_row(int64_t r, int64_t k0, int64_t n, float* out) const;
};

}  // namespace meshlm

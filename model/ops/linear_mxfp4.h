// Internal to meshlm::ops: linear() for mxfp4 weights (model/ops/mxfp4.h).
// Every weight is decoded exactly to fp32 (its E2M1 value times 2^(e − 127))
// and multiplied with the fp32 input, which is never rounded or quantized.
// Each output is computed in ONE fixed order: 16 fp32 lanes; for each block b
// (32 columns) in turn, lane l does acc[l] = fma(w[k], x[k], acc[l]) for
// k = 32b + 2l, then k = 32b + 2l + 1 (only columns < cols); then the lane
// tree of linear_tile.h, + bias, + old y. (Lane l takes the two nibbles of
// byte l of the block: the decode needs one byte widening per 32 weights
// instead of one nibble shuffle per 16, docs/DESIGN.md §11.) So a row's
// result is the same bits whatever the batch or the path: n <= 16 streams
// the packed weights once through register tiles that decode as they go;
// n > 16 runs the lane GEMM of linear_gemm.h in this column order over weight
// panels decoded to fp32. Builds without AVX-512 run the specification.
#pragma once

#include <cstdint>
#include <cstring>

#include "model/ops/avx512.h"
#include "model/ops/linear.h"
#include "model/ops/mxfp4.h"

namespace meshlm::ops_detail {

// y[n, rows] (+)= x[n, cols] · Wᵀ (+ bias) for mxfp4 W (data and exponents set).
void mxfp4_linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
                  bool accumulate);

// One output, x · W[row]ᵀ, by scalar code in the order above (the tests
// check mxfp4_linear against it bit for bit).
float mxfp4_dot_reference(const float* x, const WeightView& w, int64_t row);

// The column of lane l in chunk c: chunk 2b holds block b's even columns,
// chunk 2b + 1 its odd ones.
inline int64_t mxfp4_column(int64_t c, int l) {
  return 32 * (c / 2) + 2 * l + c % 2;
}

#if defined(__AVX512F__)
// The 16-entry value table of a block: kE2M1 · 2^(e − 127) (exact, as mxfp4_value).
inline __m512 mxfp4_table(uint8_t e) {
  return _mm512_mul_ps(_mm512_loadu_ps(kE2M1), _mm512_set1_ps(kE8M0Scale[e]));
}

// The 16 bytes of a block widened, byte l in lane l: its low nibble indexes
// the even column's code, (>> 4) the odd one's; the permutes read only the
// low 4 bits of each lane.
inline __m512i mxfp4_codes(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m512 mxfp4_even(__m512i codes, __m512 table) {
  return _mm512_permutexvar_ps(codes, table);
}
inline __m512 mxfp4_odd(__m512i codes, __m512 table) {
  return _mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), table);
}

// Lanes of block b's even (odd) chunk holding columns below cols.
inline __mmask16 mxfp4_mask(int64_t cols, int64_t b, int odd) {
  const int64_t n = (cols - 32 * b - odd + 1) / 2;  // lanes l with 2l + odd < cols - 32b
  return n >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1u);
}

// An mxfp4 matrix as a weight source of linear_gemm.cpp: chunks of 16
// weights as fp32 in the column order above.
struct Mxfp4Rows {
  const uint8_t* data = nullptr;       // [rows][row_bytes] codes
  const uint8_t* exponents = nullptr;  // [rows][blocks]
  int64_t cols = 0, row_bytes = 0, blocks = 0;

  explicit Mxfp4Rows(const WeightView& w)
      : data(static_cast<const uint8_t*>(w.data)),
        exponents(w.exponents),
        cols(w.cols),
        row_bytes((w.cols + 1) / 2),
        blocks((w.cols + 31) / 32) {}

  int64_t chunks() const { return 2 * blocks; }
  static int64_t column(int64_t c, int l) { return mxfp4_column(c, l); }

  // The 16 bytes of block b of row r (zero past the row; nothing past it is read).
  __m512i codes(int64_t r, int64_t b) const {
    const uint8_t* p = data + r * row_bytes + 16 * b;
    if (32 * (b + 1) <= cols) return mxfp4_codes(p);
    uint8_t tail[16] = {};
    std::memcpy(tail, p, static_cast<size_t>(row_bytes - 16 * b));
    return mxfp4_codes(tail);
  }
  // Chunk c of row r as fp32, zero in the lanes past the row.
  __m512 chunk(int64_t r, int64_t c) const {
    const int64_t b = c / 2;
    const __m512i v = codes(r, b);
    const __m512 table = mxfp4_table(exponents[r * blocks + b]);
    const __m512 w = c % 2 ? mxfp4_odd(v, table) : mxfp4_even(v, table);
    return _mm512_maskz_mov_ps(mxfp4_mask(cols, b, static_cast<int>(c % 2)), w);
  }
};
#endif

}  // namespace meshlm::ops_detail

// linear() for mxfp4 weights: see linear_mxfp4.h for what it computes.
#include "model/ops/linear_mxfp4.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "model/ops/linear_gemm.h"
#include "model/ops/linear_quant.h"
#include "model/ops/linear_tile.h"
#include "sharding/error.h"

namespace meshlm::ops_detail {

namespace {

// The dot product of a dequantized row w and x in the order of linear_mxfp4.h.
float ordered_dot(const float* w, const float* x, int64_t cols) {
  float acc[kLanes] = {};
  const int64_t chunks = 2 * ((cols + 31) / 32);
  for (int64_t c = 0; c < chunks; ++c)
    for (int l = 0; l < kLanes; ++l) {
      const int64_t k = mxfp4_column(c, l);
      if (k < cols) acc[l] = std::fma(w[k], x[k], acc[l]);
    }
  return lane_tree_sum(acc);
}

#if defined(__AVX512F__)

// Blocks per group: the scales of a tile's rows for a group are written to
// the stack first (16 exponents converted at once per row), so that the
// inner loop needs one pointer per weight row and nothing else per row.
constexpr int kGroup = 16;

// scale[j] = kE8M0Scale[e[j]] for j < nb <= 16 (the same bits, 16 at a time).
inline void group_scales(const uint8_t* e, int nb, float* scale) {
  __m128i v8;
  if (nb == kGroup) {
    v8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(e));
  } else {  // a row's last group only (a memcpy call in every group spilled the tile)
    alignas(16) uint8_t part[kGroup] = {};
    std::memcpy(part, e, static_cast<size_t>(nb));
    v8 = _mm_load_si128(reinterpret_cast<const __m128i*>(part));
  }
  const __m512i v = _mm512_cvtepu8_epi32(v8);
  __m512i bits = _mm512_slli_epi32(v, 23);  // 2^(e - 127) for e = 1 .. 254
  bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epi32_mask(v, _mm512_setzero_si512()),
                               _mm512_set1_epi32(0x00400000));  // 2^-127
  bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epi32_mask(v, _mm512_set1_epi32(255)),
                               _mm512_set1_epi32(0x7FC00000));  // NaN
  _mm512_store_ps(scale, _mm512_castsi512_ps(bits));
}

// y[i * ldy + r] for R weight rows (from r0) x N input rows (xp, row stride
// ldx, packed in the column order of Mxfp4Rows): every output in the order
// of mxfp4_dot_reference. A block (32 columns) at a time: per row its scaled
// table, its 16 bytes widened once, the even and the odd chunk decoded and
// multiplied with the N inputs.
template <int R, int N>
void mxfp4_tile(const Mxfp4Rows& m, int64_t r0, int64_t rows, const float* xp, int64_t ldx,
                float* y, int64_t ldy, const Epilogue& ep) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < N; ++i) acc[r][i] = _mm512_setzero_ps();
  const int64_t full = m.cols / 32;
  const uint8_t* d[R];
  for (int r = 0; r < R; ++r) d[r] = m.data + (r0 + r) * m.row_bytes;
  // The next tile's rows (contiguous, 16 R bytes per block) are prefetched
  // as this tile streams its own, so their streams are under way when it ends.
  const uint8_t* next = m.data + (r0 + R) * m.row_bytes;
  const bool prefetch = r0 + 2 * R <= rows;
  const __m512 e2m1 = _mm512_loadu_ps(kE2M1);
  alignas(64) float scale[R][kGroup];
  for (int64_t g = 0; g < full; g += kGroup) {
    const int nb = static_cast<int>(std::min<int64_t>(kGroup, full - g));
    for (int r = 0; r < R; ++r) group_scales(m.exponents + (r0 + r) * m.blocks + g, nb, scale[r]);
    for (int j = 0; j < nb; ++j) {
      const int64_t b = g + j;
      if (prefetch)
        for (int q = 0; q < (16 * R + 63) / 64; ++q)
          _mm_prefetch(reinterpret_cast<const char*>(next + 16 * R * b + 64 * q), _MM_HINT_T0);
      for (int r = 0; r < R; ++r) {
        const __m512 table = _mm512_mul_ps(e2m1, _mm512_set1_ps(scale[r][j]));
        const __m512i v = mxfp4_codes(d[r] + 16 * b);
        const __m512 w0 = mxfp4_even(v, table), w1 = mxfp4_odd(v, table);
        for (int i = 0; i < N; ++i) {
          const float* xb = xp + i * ldx + 32 * b;
          acc[r][i] = _mm512_fmadd_ps(w0, _mm512_load_ps(xb), acc[r][i]);
          acc[r][i] = _mm512_fmadd_ps(w1, _mm512_load_ps(xb + 16), acc[r][i]);
        }
      }
    }
  }
  if (full < m.blocks) {  // the last, short block: only the lanes of columns < cols
    const __mmask16 m0 = mxfp4_mask(m.cols, full, 0), m1 = mxfp4_mask(m.cols, full, 1);
    for (int r = 0; r < R; ++r) {
      const __m512 table = mxfp4_table(m.exponents[(r0 + r) * m.blocks + full]);
      const __m512i v = m.codes(r0 + r, full);
      const __m512 w0 = mxfp4_even(v, table), w1 = mxfp4_odd(v, table);
      for (int i = 0; i < N; ++i) {
        const float* xb = xp + i * ldx + 32 * full;
        acc[r][i] = _mm512_mask3_fmadd_ps(w0, _mm512_load_ps(xb), acc[r][i], m0);
        acc[r][i] = _mm512_mask3_fmadd_ps(w1, _mm512_load_ps(xb + 16), acc[r][i], m1);
      }
    }
  }
  for (int i = 0; i < N; ++i)
    for (int r = 0; r < R; ++r) store_out(lane_tree_sum(acc[r][i]), r, y + i * ldy + r, ep);
}

// One input row x (cols) packed in the column order of Mxfp4Rows into xp
// (32 per block, zero past the row): each block's even columns, then its odd ones.
void pack_input(const float* x, int64_t cols, float* xp) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const int64_t full = cols / 32;
  for (int64_t b = 0; b < full; ++b) {
    const __m512 lo = _mm512_loadu_ps(x + 32 * b), hi = _mm512_loadu_ps(x + 32 * b + 16);
    _mm512_store_ps(xp + 32 * b, _mm512_permutex2var_ps(lo, even, hi));
    _mm512_store_ps(xp + 32 * b + 16, _mm512_permutex2var_ps(lo, odd, hi));
  }
  if (32 * full < cols)
    for (int c = 0; c < 2; ++c)
      for (int l = 0; l < kLanes; ++l) {
        const int64_t k = mxfp4_column(2 * full + c, l);
        xp[(2 * full + c) * kLanes + l] = k < cols ? x[k] : 0.0f;
      }
}

constexpr int kMaxR = 8, kMaxN = 8;
using TileFn = void (*)(const Mxfp4Rows&, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                        const Epilogue&);

// tiles[(R - 1) * kMaxN + N - 1] = mxfp4_tile<R, N>.
template <size_t... I>
constexpr std::array<TileFn, sizeof...(I)> make_tiles(std::index_sequence<I...>) {
  return {&mxfp4_tile<static_cast<int>(I / kMaxN) + 1, static_cast<int>(I % kMaxN) + 1>...};
}
constexpr auto kTiles = make_tiles(std::make_index_sequence<kMaxR * kMaxN>{});

// Weight rows per tile for N input rows: R * N accumulators, 2 N inputs and
// a few decoding temporaries within the 32 zmm registers.
constexpr int kRowsFor[kMaxN + 1] = {0, 8, 6, 5, 4, 3, 3, 2, 2};

// Up to this many input rows the weights stream once through the tiles;
// beyond, the lane GEMM, which decodes each weight panel once for all inputs
// (measured on gpt-oss-20b's expert shapes: the tiles faster up to n = 32,
// the GEMM from n = 48).
constexpr int64_t kStreamMaxRows = 32;

// Input rows per tile beyond 8 inputs: blocks of at most 6 (6 x 3 tiles,
// measured 1.2-1.3x faster than 8 x 2 for n = 12 .. 64).
constexpr int kBlockRows = 6;

void stream(const Mxfp4Rows& m, int64_t rows, const float* x, int64_t n, float* y,
            const float* bias, bool accumulate) {
  const int64_t ldx = 32 * m.blocks;
  thread_local AlignedScratch x_scratch;
  float* xp = x_scratch.get(static_cast<size_t>(n * ldx));
  for (int64_t i = 0; i < n; ++i) pack_input(x + i * m.cols, m.cols, xp + i * ldx);
  // One block of up to 8 input rows, or blocks of up to 6, as even as possible.
  const int64_t blocks = n <= kMaxN ? 1 : (n + kBlockRows - 1) / kBlockRows;
  const int nt = static_cast<int>((n + blocks - 1) / blocks);
  const int rt = kRowsFor[nt];
  for (int64_t r0 = 0; r0 < rows; r0 += rt) {
    const int rr = static_cast<int>(std::min<int64_t>(rt, rows - r0));
    const Epilogue ep{bias ? bias + r0 : nullptr, accumulate};
    // The tile's weight rows stay in L1 while the input blocks pass.
    for (int64_t i0 = 0; i0 < n; i0 += nt) {
      const int nn = static_cast<int>(std::min<int64_t>(nt, n - i0));
      kTiles[static_cast<size_t>((rr - 1) * kMaxN + nn - 1)](m, r0, rows, xp + i0 * ldx, ldx,
                                                             y + i0 * rows + r0, rows, ep);
    }
  }
}

#endif

}  // namespace

void mxfp4_linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
                  bool accumulate) {
  MESHLM_CHECK(w.dtype == DType::mxfp4 && w.exponents != nullptr && w.data != nullptr,
               "mxfp4_linear: needs mxfp4 weights with data and exponents");
#if defined(__AVX512F__)
  if (n > kStreamMaxRows && have_lane_gemm())
    lane_gemm_mxfp4(x, n, w, y, bias, accumulate);
  else
    stream(Mxfp4Rows(w), w.rows, x, n, y, bias, accumulate);
#else
  // A row at a time: dequantized (exact), then the specification's order.
  const QuantMatrix m = matrix_of(w);
  thread_local AlignedScratch row_scratch;
  float* row = row_scratch.get(static_cast<size_t>(w.cols));
  const Epilogue ep{bias, accumulate};
  for (int64_t r = 0; r < w.rows; ++r) {
    m.dequantize_row(r, 0, w.cols, row);
    for (int64_t i = 0; i < n; ++i)
      store_out(ordered_dot(row, x + i * w.cols, w.cols), r, y + i * w.rows + r, ep);
  }
#endif
}

float mxfp4_dot_reference(const float* x, const WeightView& w, int64_t row) {
  std::vector<float> values(static_cast<size_t>(w.cols));
  matrix_of(w).dequantize_row(row, 0, w.cols, values.data());
  return ordered_dot(values.data(), x, w.cols);
}

}  // namespace meshlm::ops_detail

// The prefill GEMM of linear(): see linear_gemm.h for what it computes.
//
// Lane layout: a packed operand holds, for lane l (0..15) and chunk c, the
// elements at column column(c, l) of its rows: packed[l][c][row of the
// block] (column(c, l) = 16c + l for plain matrices; mxfp4 pairs lanes with
// columns in its own order, linear_mxfp4.h). Weight panels have 32 rows (two
// vectors), input blocks 12 rows (broadcast).
#include "model/ops/linear_gemm.h"

#include <algorithm>

#include "model/ops/linear_mxfp4.h"
#include "model/ops/linear_tile.h"

namespace meshlm::ops_detail {

#if defined(__AVX512F__)

bool have_lane_gemm() {
  return true;
}

namespace {

constexpr int kMR = 32;  // weight rows per panel
constexpr int kNR = 12;  // input rows per block
constexpr int kAcc = 2 * kNR;

inline __m512 load16(const float* p, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, p);
}
inline __m512 load16(const bf16* p, __mmask16 m) {
  return load_w(p, m);
}
inline __m512 load16(const fp16* p, __mmask16 m) {
  return load_w(p, m);
}

inline __m512 unpack_pd(__m512 a, __m512 b, bool hi) {
  const __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
  return _mm512_castpd_ps(hi ? _mm512_unpackhi_pd(x, y) : _mm512_unpacklo_pd(x, y));
}

// r[m][k] (16 x 16) -> r[k][m].
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + j], 128-bit block q: rows 4i..4i+3 at column 4q + j.
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = unpack_pd(t[4 * i], t[4 * i + 2], false);
    r[4 * i + 1] = unpack_pd(t[4 * i], t[4 * i + 2], true);
    r[4 * i + 2] = unpack_pd(t[4 * i + 1], t[4 * i + 3], false);
    r[4 * i + 3] = unpack_pd(t[4 * i + 1], t[4 * i + 3], true);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    const __m512 u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    const __m512 v0 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    t[j] = _mm512_shuffle_f32x4(u0, v0, 0x88);
    t[8 + j] = _mm512_shuffle_f32x4(u0, v0, 0xdd);
    t[4 + j] = _mm512_shuffle_f32x4(u1, v1, 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(u1, v1, 0xdd);
  }
  for (int k = 0; k < 16; ++k) r[k] = t[k];
}

// A weight source: chunks() chunks of 16 lanes per row, lane l of chunk c
// holding column column(c, l); chunk(r, c) is that chunk of row r as fp32,
// zero where the column is past the row. A plain row-major matrix widened;
// Mxfp4Rows (linear_mxfp4.h) is the other source.
template <class WT>
struct PlainRows {
  const WT* w;
  int64_t cols;
  int64_t chunks() const { return (cols + kLanes - 1) / kLanes; }
  static int64_t column(int64_t c, int l) { return c * kLanes + l; }
  __m512 chunk(int64_t r, int64_t c) const {
    const int64_t k0 = c * kLanes;
    const __mmask16 m =
        static_cast<__mmask16>(cols - k0 >= kLanes ? 0xFFFFu : (1u << (cols - k0)) - 1u);
    return load16(w + r * cols + k0, m);
  }
};

// Rows [r0, r0 + mr) of src -> wp[l][c][32], widened; rows >= mr are zero.
template <class Src>
void pack_weights(const Src& src, int64_t r0, int mr, int64_t chunks, float* wp) {
  for (int h = 0; h < kMR / kLanes; ++h)
    for (int64_t c = 0; c < chunks; ++c) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        const int row = h * 16 + i;
        r[i] = row < mr ? src.chunk(r0 + row, c) : _mm512_setzero_ps();
      }
      transpose16(r);
      for (int l = 0; l < kLanes; ++l) _mm512_store_ps(wp + (l * chunks + c) * kMR + h * 16, r[l]);
    }
}

// Rows [0, nr) of x -> xp[l][c][12] in the column order of src; rows >= nr are zero.
template <class Src>
void pack_inputs(const Src& src, const float* x, int nr, int64_t cols, int64_t chunks, float* xp) {
  for (int l = 0; l < kLanes; ++l)
    for (int64_t c = 0; c < chunks; ++c) {
      float* d = xp + (l * chunks + c) * kNR;
      const int64_t k = src.column(c, l);
      for (int i = 0; i < kNR; ++i) d[i] = i < nr && k < cols ? x[i * cols + k] : 0.f;
    }
}

// The chains of one lane for a 32 x 12 block: `steps` fmas each, from +0;
// out[(j * 12 + i) * 16 + m] = lane sum of weight row 16j + m with input row i.
inline void lane_kernel(const float* wp, const float* xp, int64_t steps, float* out) {
  __m512 acc[2][kNR];
  for (int i = 0; i < kNR; ++i) acc[0][i] = acc[1][i] = _mm512_setzero_ps();
  for (int64_t c = 0; c < steps; ++c, wp += kMR, xp += kNR) {
    const __m512 w0 = _mm512_load_ps(wp), w1 = _mm512_load_ps(wp + 16);
    for (int i = 0; i < kNR; ++i) {
      const __m512 xb = _mm512_set1_ps(xp[i]);
      acc[0][i] = _mm512_fmadd_ps(w0, xb, acc[0][i]);
      acc[1][i] = _mm512_fmadd_ps(w1, xb, acc[1][i]);
    }
  }
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < kNR; ++i) _mm512_store_ps(out + (j * kNR + i) * kLanes, acc[j][i]);
}

// The lane tree of lane_tree_sum over part[l][acc][16], then the epilogue
// into y rows [0, nr), columns [0, mr).
void finish_block(const float* part, int mr, int nr, float* y, int64_t ldy, const float* bias,
                  bool accumulate) {
  for (int j = 0; j < 2; ++j) {
    const int valid = std::clamp(mr - 16 * j, 0, 16);
    if (valid == 0) continue;
    const __mmask16 m = static_cast<__mmask16>(valid == 16 ? 0xFFFFu : (1u << valid) - 1u);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + 16 * j) : _mm512_setzero_ps();
    for (int i = 0; i < nr; ++i) {
      const int a = j * kNR + i;
      auto P = [&](int l) { return _mm512_load_ps(part + (l * kAcc + a) * kLanes); };
      __m512 s8[8], s4[4], s2[2];
      for (int l = 0; l < 8; ++l) s8[l] = _mm512_add_ps(P(l), P(l + 8));
      for (int l = 0; l < 4; ++l) s4[l] = _mm512_add_ps(s8[l], s8[l + 4]);
      for (int l = 0; l < 2; ++l) s2[l] = _mm512_add_ps(s4[l], s4[l + 2]);
      __m512 v = _mm512_add_ps(s2[0], s2[1]);
      if (bias) v = _mm512_add_ps(v, b);
      float* yp = y + i * ldy + 16 * j;
      if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yp), v);
      _mm512_mask_storeu_ps(yp, m, v);
    }
  }
}

// lane_gemm over any weight source (PlainRows, Mxfp4Rows).
template <class Src>
void lane_gemm_rows(const float* x, int64_t n, const Src& src, int64_t rows, int64_t cols, float* y,
                    const float* bias, bool accumulate) {
  const int64_t chunks = src.chunks();
  // Chain length of lane l: its columns below cols (column(c, l) grows with
  // c, so they are the first steps[l] chunks).
  int64_t steps[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    steps[l] = 0;
    while (steps[l] < chunks && src.column(steps[l], l) < cols) ++steps[l];
  }
  // Input panel: up to 32 blocks (384 rows), about 8 MiB packed at most. A
  // wide panel amortizes packing each weight panel (a transposition) over
  // many inputs; the panel is read lane by lane, in order, once per weight
  // panel (measured: 0.85-1.05x OpenBLAS sgemm, against 0.5-0.8x for a
  // panel that fits L2).
  constexpr int64_t kPanelBytes = int64_t{8} << 20;
  constexpr int64_t kMaxBlocks = 32;
  const int64_t panel =
      std::clamp<int64_t>(kPanelBytes / (chunks * kLanes * 4) / kNR, 1, kMaxBlocks) * kNR;
  thread_local AlignedScratch x_scratch, w_scratch, part_scratch;
  float* xp = x_scratch.get(static_cast<size_t>(panel * chunks * kLanes));
  float* wp = w_scratch.get(static_cast<size_t>(kMR * chunks * kLanes));
  float* part = part_scratch.get(static_cast<size_t>(panel / kNR * kLanes * kAcc * kLanes));
  const size_t block_x = static_cast<size_t>(kNR * chunks * kLanes);
  const size_t block_part = static_cast<size_t>(kLanes * kAcc * kLanes);
  for (int64_t p0 = 0; p0 < n; p0 += panel) {
    const int64_t np = std::min(panel, n - p0);
    const int64_t blocks = (np + kNR - 1) / kNR;
    for (int64_t b = 0; b < blocks; ++b)
      pack_inputs(src, x + (p0 + b * kNR) * cols,
                  static_cast<int>(std::min<int64_t>(kNR, np - b * kNR)), cols, chunks,
                  xp + b * block_x);
    for (int64_t r0 = 0; r0 < rows; r0 += kMR) {
      const int mr = static_cast<int>(std::min<int64_t>(kMR, rows - r0));
      pack_weights(src, r0, mr, chunks, wp);
      // Lane by lane, so that the lane's weights (chunks x 32) stay in L1
      // while every input block of the panel passes.
      for (int l = 0; l < kLanes; ++l)
        for (int64_t b = 0; b < blocks; ++b)
          lane_kernel(wp + l * chunks * kMR, xp + b * block_x + l * chunks * kNR, steps[l],
                      part + b * block_part + static_cast<size_t>(l * kAcc * kLanes));
      for (int64_t b = 0; b < blocks; ++b)
        finish_block(part + b * block_part, mr,
                     static_cast<int>(std::min<int64_t>(kNR, np - b * kNR)),
                     y + (p0 + b * kNR) * rows + r0, rows, bias ? bias + r0 : nullptr, accumulate);
    }
  }
}

}  // namespace

template <class WT>
void lane_gemm(const float* x, int64_t n, const WT* w, int64_t rows, int64_t cols, float* y,
               const float* bias, bool accumulate) {
  lane_gemm_rows(x, n, PlainRows<WT>{w, cols}, rows, cols, y, bias, accumulate);
}

void lane_gemm_mxfp4(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
                     bool accumulate) {
  lane_gemm_rows(x, n, Mxfp4Rows(w), w.rows, w.cols, y, bias, accumulate);
}

#else

bool have_lane_gemm() {
  return false;
}

template <class WT>
void lane_gemm(const float*, int64_t, const WT*, int64_t, int64_t, float*, const float*, bool) {
  MESHLM_CHECK(false, "lane_gemm needs AVX-512 (have_lane_gemm() is false)");
}

void lane_gemm_mxfp4(const float*, int64_t, const WeightView&, float*, const float*, bool) {
  MESHLM_CHECK(false, "lane_gemm needs AVX-512 (have_lane_gemm() is false)");
}

#endif

template void lane_gemm<float>(const float*, int64_t, const float*, int64_t, int64_t, float*,
                               const float*, bool);
template void lane_gemm<fp16>(const float*, int64_t, const fp16*, int64_t, int64_t, float*,
                              const float*, bool);
template void lane_gemm<bf16>(const float*, int64_t, const bf16*, int64_t, int64_t, float*,
                              const float*, bool);

}  // namespace meshlm::ops_detail

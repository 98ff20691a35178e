// Internal to meshlm::ops: the dot-product tile kernel behind linear().
// A tile computes R weight rows x N input rows, each output in ONE fixed order
// (16 fp32 lanes of fma along the row, then a fixed lane tree, then bias, then
// accumulate) that does not depend on R, N, the tile's place or the code path
// (AVX-512 or the portable emulation below, which is the specification the
// tests check). The order and why it matters: docs/DESIGN.md §11.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "model/ops/avx512.h"
#include "sharding/dtype.h"
#include "sharding/error.h"

namespace meshlm::ops_detail {

constexpr int kLanes = 16;

// What a tile writes: y[i * ldy + r] for its R x N outputs. A dot product
// may also be split along cols into slices (multiples of 16 columns but the
// last): the 16 lane sums of every output are then saved to `partial`
// ([R][N][16]) after a slice and resumed from it by the next one, which
// leaves the order, and so the bits, unchanged.
struct Epilogue {
  const float* bias = nullptr;  // [R] slice for this tile's rows, or null
  bool accumulate = false;
  float* partial = nullptr;  // lane sums carried between slices
  bool resume = false;       // start from `partial` instead of zero
  bool finish = true;        // reduce and write y; else save to `partial`
};

inline void store_out(float dot, int64_t r, float* y_at, const Epilogue& ep) {
  if (ep.bias) dot += ep.bias[r];
  *y_at = ep.accumulate ? *y_at + dot : dot;
}

// A 64-byte aligned scratch buffer that only grows (no allocation once warm).
class AlignedScratch {
 public:
  float* get(size_t count) {
    if (count > size_) {
      buf_.reset(static_cast<float*>(std::aligned_alloc(64, (count * 4 + 63) / 64 * 64)));
      MESHLM_CHECK(buf_ != nullptr, "linear: scratch allocation of " << count * 4 << " B failed");
      size_ = count;
    }
    return buf_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> buf_;
  size_t size_ = 0;
};

// ---------------------------------------------------------------------------
// Portable emulation of the same order (used when the compiler does not
// target AVX-512, and by the tests as the specification of the order).
inline float widen(float v) {
  return v;
}
inline float widen(bf16 v) {
  return bf16_to_float(v);
}
inline float widen(fp16 v) {
  return fp16_to_float(v.bits);
}

inline float lane_tree_sum(const float* a) {
  float s8[8], s4[4], s2[2];
  for (int l = 0; l < 8; ++l) s8[l] = a[l] + a[l + 8];
  for (int l = 0; l < 4; ++l) s4[l] = s8[l] + s8[l + 4];
  for (int l = 0; l < 2; ++l) s2[l] = s4[l] + s4[l + 2];
  return s2[0] + s2[1];
}

// Element k of a row starting at p: p[(k / kLanes) * step + k % kLanes]
// (step = kLanes for a plain row, larger for the packed layouts of linear.cpp).
template <class WT>
float dot_portable(const WT* w, int64_t wstep, const float* x, int64_t xstep, int64_t cols) {
  float acc[kLanes] = {};
  for (int64_t k0 = 0, c = 0; k0 < cols; k0 += kLanes, ++c)
    for (int l = 0; l < kLanes && k0 + l < cols; ++l)
      acc[l] = std::fma(widen(w[c * wstep + l]), x[c * xstep + l], acc[l]);
  return lane_tree_sum(acc);
}

#if defined(__AVX512F__)
// ---------------------------------------------------------------------------
// AVX-512 implementation.
inline __m512 load_w(const float* p) {
  return _mm512_loadu_ps(p);
}
inline __m512 load_w(const bf16* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline __m512 load_w(const float* p, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, p);
}
inline __m512 load_w(const bf16* p, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline __m512 load_w(const fp16* p) {  // exact (F16C)
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load_w(const fp16* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

// The lane tree of lane_tree_sum, in registers.
inline float lane_tree_sum(__m512 v) {
  const __m512 hi = _mm512_shuffle_f32x4(v, v, 0xEE);  // lanes 8..15 moved to 0..7
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(hi));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
  return _mm_cvtss_f32(s1);
}

// y[i * ldy + r] (+)= w[r, :] . x[i, :] for r < R, i < N, where chunk c
// (16 elements) of weight row r is at w + c * wstep + r * ldw and chunk c of
// input row i at x + c * xstep + i * ldx.
template <class WT, int R, int N>
void dot_tile(const WT* w, int64_t ldw, int64_t wstep, const float* x, int64_t ldx, int64_t xstep,
              int64_t cols, float* y, int64_t ldy, const Epilogue& ep) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < N; ++i)
      acc[r][i] =
          ep.resume ? _mm512_loadu_ps(ep.partial + (r * N + i) * kLanes) : _mm512_setzero_ps();
  const int64_t full = cols / kLanes * kLanes;
  // Weights streamed from memory (plain rows): prefetch the rows of the
  // next tile (the next R rows) at the same column, one line per row per 64
  // bytes, so their streams are under way when this tile ends (measured: it
  // helps wherever a tile computes more than fp32 x 1 row, and hurts there).
  const bool prefetch_next = wstep == kLanes && (sizeof(WT) == 2 || N > 1);
  for (int64_t k = 0; k < full; k += kLanes, w += wstep, x += xstep) {
    if (prefetch_next && (sizeof(WT) == 4 || (k & kLanes) == 0))
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(w + (R + r) * ldw), _MM_HINT_T0);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_w(w + r * ldw);
    for (int i = 0; i < N; ++i) {
      __m512 xv = _mm512_loadu_ps(x + i * ldx);
      for (int r = 0; r < R; ++r) acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
    }
  }
  if (full < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - full)) - 1u);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_w(w + r * ldw, m);
    for (int i = 0; i < N; ++i) {
      __m512 xv = _mm512_maskz_loadu_ps(m, x + i * ldx);
      for (int r = 0; r < R; ++r) acc[r][i] = _mm512_mask3_fmadd_ps(wv[r], xv, acc[r][i], m);
    }
  }
  if (!ep.finish) {
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < N; ++i) _mm512_storeu_ps(ep.partial + (r * N + i) * kLanes, acc[r][i]);
    return;
  }
  for (int i = 0; i < N; ++i)
    for (int r = 0; r < R; ++r) store_out(lane_tree_sum(acc[r][i]), r, y + i * ldy + r, ep);
}
#else
template <class WT, int R, int N>
void dot_tile(const WT* w, int64_t ldw, int64_t wstep, const float* x, int64_t ldx, int64_t xstep,
              int64_t cols, float* y, int64_t ldy, const Epilogue& ep) {
  float acc[R][N][kLanes];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < N; ++i)
      for (int l = 0; l < kLanes; ++l)
        acc[r][i][l] = ep.resume ? ep.partial[(r * N + i) * kLanes + l] : 0.f;
  for (int64_t k0 = 0; k0 < cols; k0 += kLanes, w += wstep, x += xstep)
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < N; ++i)
        for (int l = 0; l < kLanes && k0 + l < cols; ++l)
          acc[r][i][l] = std::fma(widen(w[r * ldw + l]), x[i * ldx + l], acc[r][i][l]);
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < N; ++i) {
      if (!ep.finish)
        for (int l = 0; l < kLanes; ++l) ep.partial[(r * N + i) * kLanes + l] = acc[r][i][l];
      else
        store_out(lane_tree_sum(acc[r][i]), r, y + i * ldy + r, ep);
    }
}
#endif

}  // namespace meshlm::ops_detail

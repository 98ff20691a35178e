// linear(): blocking and dispatch. n <= 16 (decode): the dot-product tiles
// of linear_tile.h with the weights streamed once; n > 16 (prefill): the lane
// GEMM of linear_gemm.h. Every path computes each output in the one order
// linear_tile.h specifies, so a row's result never depends on the batch.
#include "model/ops/linear.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "arch/device_bytes.h"
#include "model/ops/linear_gemm.h"
#include "model/ops/linear_mxfp4.h"
#include "model/ops/linear_quant.h"
#include "model/ops/linear_tile.h"
#include "sharding/error.h"

namespace meshlm {
namespace {

using ops_detail::Epilogue;

constexpr int kMaxR = 8;  // weight rows per tile
constexpr int kMaxN = 8;  // input rows per tile

using ops_detail::kLanes;

template <class WT>
using TileFn = void (*)(const WT*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t,
                        float*, int64_t, const Epilogue&);

// table[R - 1][N - 1] = dot_tile<WT, R, N>.
template <class WT, size_t... Rs, size_t... Ns>
constexpr auto make_table(std::index_sequence<Rs...>, std::index_sequence<Ns...> ns) {
  auto row = []<size_t R>(std::integral_constant<size_t, R>, auto nseq) {
    return [&]<size_t... N2>(std::index_sequence<N2...>) {
      return std::array<TileFn<WT>, sizeof...(N2)>{
          &ops_detail::dot_tile<WT, static_cast<int>(R + 1), static_cast<int>(N2 + 1)>...};
    }
    (nseq);
  };
  return std::array<std::array<TileFn<WT>, sizeof...(Ns)>, sizeof...(Rs)>{
      row(std::integral_constant<size_t, Rs>{}, ns)...};
}

template <class WT>
const auto& tile_table() {
  static constexpr auto table =
      make_table<WT>(std::make_index_sequence<kMaxR>{}, std::make_index_sequence<kMaxN>{});
  return table;
}

// Tile shape for a panel of `np` input rows: N input rows x R weight rows,
// with R * N accumulators + R weight vectors + 1 input vector <= 32 zmm.
struct TileShape {
  int r, n;
};
TileShape tile_shape(int64_t np) {
  static constexpr TileShape by_n[kMaxN + 1] = {{8, 1}, {8, 1}, {8, 2}, {6, 3}, {6, 4},
                                                {5, 5}, {4, 6}, {3, 7}, {3, 8}};
  if (np <= kMaxN) return by_n[np];
  return {4, 6};
}

// Input rows per panel: the packed panel of x stays in L2 while weights stream.
int64_t panel_rows(int64_t cols, int n_tile) {
  constexpr int64_t kPanelBytes = 768 * 1024;
  int64_t rows = kPanelBytes / std::max<int64_t>(1, cols * 4);
  return std::clamp<int64_t>(rows / n_tile * n_tile, n_tile, 192);
}

// Packs `nr` rows of `src` (row stride `ld`, `cols` long) chunk-interleaved:
// dst[(c * nr + r) * 16 + l] = widen(src[r * ld + c * 16 + l]), zero-padded.
template <class T>
void pack_rows(const T* src, int64_t ld, int nr, int64_t cols, float* dst) {
  const int64_t chunks = (cols + kLanes - 1) / kLanes;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t k0 = c * kLanes;
    const int64_t len = std::min<int64_t>(kLanes, cols - k0);
    for (int r = 0; r < nr; ++r) {
      float* d = dst + (c * nr + r) * kLanes;
      const T* s = src + r * ld + k0;
      for (int64_t l = 0; l < len; ++l) d[l] = ops_detail::widen(s[l]);
      for (int64_t l = len; l < kLanes; ++l) d[l] = 0.f;
    }
  }
}

// Weights streamed once for all inputs (decode, small batches): the weight
// rows of kGroupTiles tiles stream along cols in slices whose part of the
// packed x (blocks of shape.n rows, see run_tiles) stays in L1 while every
// tile of the group and every input block use it; each (tile, block) carries
// its lane sums from slice to slice (same bits as one pass).
constexpr int64_t kSliceBytes = 16 * 1024;
constexpr int64_t kMinSlice = 256;  // columns
constexpr int kGroupTiles = 4;

template <class WT, class Table>
void stream_sliced(const Table& table, const float* xp, int64_t n, const WT* w, int64_t rows,
                   int64_t cols, float* y, TileShape shape, const float* bias, bool accumulate) {
  const int64_t chunks = (cols + kLanes - 1) / kLanes;
  const int64_t blocks = (n + shape.n - 1) / shape.n;
  const int64_t tile_part = shape.r * shape.n * kLanes;
  thread_local ops_detail::AlignedScratch partial_scratch;
  float* partial = partial_scratch.get(static_cast<size_t>(kGroupTiles * blocks * tile_part));
  const int64_t slice = std::max<int64_t>(kMinSlice, kSliceBytes / (n * 4) / kLanes * kLanes);
  for (int64_t g0 = 0; g0 < rows; g0 += kGroupTiles * shape.r) {
    const int64_t g1 = std::min<int64_t>(rows, g0 + kGroupTiles * shape.r);
    for (int64_t k0 = 0; k0 < cols; k0 += slice) {
      const int64_t len = std::min(slice, cols - k0);
      for (int64_t r0 = g0, t = 0; r0 < g1; r0 += shape.r, ++t) {
        const int rr = static_cast<int>(std::min<int64_t>(shape.r, g1 - r0));
        for (int64_t b = 0; b < blocks; ++b) {
          const int64_t i0 = b * shape.n;
          const int nn = static_cast<int>(std::min<int64_t>(shape.n, n - i0));
          const float* xs = xp + i0 * chunks * kLanes + k0 * nn;  // block b, chunk k0 / 16
          const Epilogue ep{bias ? bias + r0 : nullptr, accumulate,
                            partial + (t * blocks + b) * tile_part, k0 > 0, k0 + slice >= cols};
          table[rr - 1][nn - 1](w + r0 * cols + k0, cols, kLanes, xs, kLanes, nn * kLanes, len,
                                y + i0 * rows + r0, rows, ep);
        }
      }
    }
  }
}

// Up to this many input rows the weights stream once (decode batches):
// measured faster than the GEMM up to n = 16 (fp32 and bf16), slower from
// n = 24. Beyond, run_tiles packs weight tiles (builds without the GEMM).
constexpr int64_t kStreamMaxRows = 16;

template <class WT>
void run_tiles(const float* x, int64_t n, const WT* w, int64_t rows, int64_t cols, float* y,
               const float* bias, bool accumulate) {
  const auto& table = tile_table<WT>();
  const auto& table_f32 = tile_table<float>();
  const bool stream = n <= kStreamMaxRows;
  const TileShape shape = tile_shape(stream ? std::min<int64_t>(n, kMaxN) : n);
  const int64_t chunks = (cols + kLanes - 1) / kLanes;
  const int64_t panel = stream ? n : panel_rows(cols, shape.n);
  // x panel [blocks of shape.n rows][chunks][rows of the block][16]: each
  // tile reads its inputs as one contiguous stream.
  thread_local ops_detail::AlignedScratch x_scratch, w_scratch;
  float* xp = x_scratch.get(static_cast<size_t>(panel * chunks * kLanes));
  for (int64_t p0 = 0; p0 < n; p0 += panel) {
    const int64_t np = std::min(panel, n - p0);
    for (int64_t i0 = 0; i0 < np; i0 += shape.n) {
      const int nn = static_cast<int>(std::min<int64_t>(shape.n, np - i0));
      pack_rows(x + (p0 + i0) * cols, cols, nn, cols, xp + i0 * chunks * kLanes);
    }
    // Weights used by one input tile stream straight from memory; weights
    // reused by several are widened and packed once per tile of rows.
    if (stream && (np > shape.n || np * cols * 4 > kSliceBytes)) {
      stream_sliced(table, xp, np, w, rows, cols, y, shape, bias, accumulate);
      continue;
    }
    const bool pack_w = np > shape.n;
    float* wp = pack_w ? w_scratch.get(static_cast<size_t>(shape.r * chunks * kLanes)) : nullptr;
    for (int64_t r0 = 0; r0 < rows; r0 += shape.r) {
      const int rr = static_cast<int>(std::min<int64_t>(shape.r, rows - r0));
      const WT* wb = w + r0 * cols;
      const Epilogue ep{bias ? bias + r0 : nullptr, accumulate};
      if (pack_w) pack_rows(wb, cols, rr, cols, wp);
      for (int64_t i0 = 0; i0 < np; i0 += shape.n) {
        const int nn = static_cast<int>(std::min<int64_t>(shape.n, np - i0));
        const float* xb = xp + i0 * chunks * kLanes;
        float* yb = y + (p0 + i0) * rows + r0;
        if (pack_w)
          table_f32[rr - 1][nn - 1](wp, kLanes, rr * kLanes, xb, kLanes, nn * kLanes, cols, yb,
                                    rows, ep);
        else
          table[rr - 1][nn - 1](wb, cols, kLanes, xb, kLanes, nn * kLanes, cols, yb, rows, ep);
      }
    }
  }
}

// Both paths give the same bits; the GEMM pays for packing each weight
// panel, which many input rows amortize (measured on TinyLlama's shapes).
constexpr int64_t kGemmMinRows = kStreamMaxRows + 1;

template <class WT>
void dispatch(const float* x, int64_t n, const WT* w, int64_t rows, int64_t cols, float* y,
              const float* bias, bool accumulate) {
  if (n >= kGemmMinRows && ops_detail::have_lane_gemm())
    ops_detail::lane_gemm(x, n, w, rows, cols, y, bias, accumulate);
  else
    run_tiles(x, n, w, rows, cols, y, bias, accumulate);
}

}  // namespace

void linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
            bool accumulate) {
  MESHLM_CHECK(w.dtype == DType::f32 || w.dtype == DType::bf16 || w.dtype == DType::f16 ||
                   is_quantized(w.dtype),
               "linear: weight dtype "
                   << dtype_name(w.dtype)
                   << " is not supported (fp32, bf16, fp16, int8, int4, mxfp4)");
  MESHLM_CHECK(n >= 0 && w.rows >= 0 && w.cols >= 0,
               "linear: negative size n=" << n << " rows=" << w.rows << " cols=" << w.cols);
  if (n == 0 || w.rows == 0) return;
  MESHLM_CHECK(y != nullptr, "linear: null output");
  if (w.cols == 0) {  // empty dot products: y = bias (or 0), added when accumulating
    const Epilogue ep{bias, accumulate};
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < w.rows; ++r) ops_detail::store_out(0.f, r, y + i * w.rows + r, ep);
    return;
  }
  MESHLM_CHECK(x != nullptr && w.data != nullptr, "linear: null input or weight");
  if (w.dtype == DType::mxfp4) {
    MESHLM_CHECK(w.exponents != nullptr, "linear: mxfp4 weights without exponents");
    ops_detail::mxfp4_linear(x, n, w, y, bias, accumulate);
  } else if (is_quantized(w.dtype)) {
    MESHLM_CHECK(w.scales != nullptr, "linear: quantized weights without scales");
    ops_detail::quant_linear(x, n, w, y, bias, accumulate);
  } else if (w.dtype == DType::f32)
    dispatch(x, n, static_cast<const float*>(w.data), w.rows, w.cols, y, bias, accumulate);
  else if (w.dtype == DType::f16)
    dispatch(x, n, static_cast<const fp16*>(w.data), w.rows, w.cols, y, bias, accumulate);
  else
    dispatch(x, n, static_cast<const bf16*>(w.data), w.rows, w.cols, y, bias, accumulate);
}

}  // namespace meshlm

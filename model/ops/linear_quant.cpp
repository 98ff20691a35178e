// linear() for int8/int4 weights: see linear_quant.h for what it computes.
//
// Weights are the unsigned operand u of the integer dot products (int8 rows
// store q + 128, int4 nibbles q + 8), the quantized input xq the signed one,
// so sum(u * xq) - offset * sum(xq) = sum(q * xq) exactly. A chunk is 64
// columns: int8 rows give 64 bytes in column order; int4 rows give 32 bytes,
// unpacked to their 32 low nibbles (even columns) then 32 high nibbles (odd
// columns). The input is laid out in the same order, so lane l of a chunk
// always pairs the same 4 columns of one block.
#include "model/ops/linear_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include "model/ops/linear_tile.h"
#include "model/ops/quant.h"
#include "sharding/error.h"

namespace meshlm::ops_detail {

namespace {

constexpr int64_t kChunk = 64;  // columns per chunk: 16 lanes x 4

int offset_of(DType t) {
  return t == DType::i8 ? 128 : kInt4Offset;
}

// Column of element j (0..3) of lane l in chunk c.
int64_t lane_col(DType t, int64_t c, int l, int j) {
  if (t == DType::i8) return kChunk * c + 4 * l + j;
  return kChunk * c + 2 * (4 * (l % 8) + j) + (l >= 8 ? 1 : 0);
}
// The block (of 32 columns) lane l of chunk c belongs to.
int64_t lane_block(DType t, int64_t c, int l) {
  return 2 * c + (t == DType::i8 ? (l >= 8) : (l % 8 >= 4));
}

// Input rows quantized per block, in the lane order of the weights' dtype.
struct QuantInput {
  int64_t chunks = 0;
  int8_t* xq = nullptr;     // [n][chunks * 64]
  int32_t* corr = nullptr;  // [n][chunks * 16]: offset * sum of the lane's 4 xq
  float* sx = nullptr;      // [n][chunks * 16]: the lane's block scale (0 past the row)
};

// `q` (chunks * 64) and `scale` (2 * chunks): scratch for the row quantized
// in column order, zero-padded, and its block scales.
void quantize_input_row(const float* x, int64_t cols, DType t, int64_t chunks, int8_t* xq,
                        int32_t* corr, float* sx, std::span<int8_t> q, std::span<float> scale) {
  const int64_t blocks = quant_blocks(cols);
  std::fill(q.begin(), q.end(), int8_t{0});
  std::fill(scale.begin(), scale.end(), 0.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t k0 = b * kQuantBlock, len = std::min<int64_t>(kQuantBlock, cols - k0);
    float amax = 0.0f;
    bool finite = true;
    for (int64_t k = 0; k < len; ++k) {
      amax = std::max(amax, std::fabs(x[k0 + k]));
      finite = finite && std::isfinite(x[k0 + k]);
    }
    // A NaN or Inf input gives a NaN scale, so the outputs are NaN, as in fp32.
    const float s =
        finite ? amax / static_cast<float>(kInt8Max) : std::numeric_limits<float>::quiet_NaN();
    scale[static_cast<size_t>(b)] = s;
    if (s == 0.0f || !finite) continue;
    const float lim = static_cast<float>(kInt8Max);
    for (int64_t k = 0; k < len; ++k)
      q[static_cast<size_t>(k0 + k)] =
          static_cast<int8_t>(std::clamp(std::nearbyint(x[k0 + k] / s), -lim, lim));
  }
  for (int64_t c = 0; c < chunks; ++c) {
    const int8_t* in = q.data() + c * kChunk;
    int8_t* out = xq + c * kChunk;
    if (t == DType::i8) {
      std::memcpy(out, in, kChunk);
    } else {  // even columns, then odd columns
      for (int p = 0; p < kChunk / 2; ++p) {
        out[p] = in[2 * p];
        out[kChunk / 2 + p] = in[2 * p + 1];
      }
    }
    for (int l = 0; l < 16; ++l) {
      corr[c * 16 + l] =
          offset_of(t) * (out[4 * l] + out[4 * l + 1] + out[4 * l + 2] + out[4 * l + 3]);
      sx[c * 16 + l] = scale[static_cast<size_t>(lane_block(t, c, l))];
    }
  }
}

// The unsigned weight value u of column k of a row (past the row: 0).
int u_of(const QuantMatrix& m, int64_t r, int64_t k) {
  if (k >= m.cols) return 0;
  return m.q(r, k) + offset_of(m.dtype);
}

// The weight scale of block b of row r as fp32 (past the row: 0).
float sw_of(const QuantMatrix& m, int64_t r, int64_t b) {
  return b < m.blocks ? bf16_to_float(m.scales[r * m.blocks + b]) : 0.0f;
}

// One output from quantized inputs, scalar: the specification.
float dot_reference(const QuantMatrix& m, int64_t r, const int8_t* xq, const int32_t* corr,
                    const float* sx, int64_t chunks) {
  float acc[16] = {};
  for (int64_t c = 0; c < chunks; ++c)
    for (int l = 0; l < 16; ++l) {
      int32_t isum = -corr[c * 16 + l];
      for (int j = 0; j < 4; ++j)
        isum += u_of(m, r, lane_col(m.dtype, c, l, j)) * xq[c * kChunk + 4 * l + j];
      const float f = static_cast<float>(isum) * sw_of(m, r, lane_block(m.dtype, c, l));
      acc[l] = std::fma(f, sx[c * 16 + l], acc[l]);
    }
  return lane_tree_sum(acc);
}

#if defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512BW__) && \
    defined(__AVX512VL__)

// The 64 unsigned weight bytes of chunk c of a row, in lane order.
template <DType Q>
__m512i load_u(const uint8_t* row, int64_t c, int64_t cols) {
  const int64_t left = cols - kChunk * c;
  if constexpr (Q == DType::i8) {
    const uint8_t* p = row + kChunk * c;
    if (left >= kChunk) return _mm512_loadu_si512(p);
    return _mm512_maskz_loadu_epi8((__mmask64{1} << left) - 1, p);
  } else {
    // The 32 bytes in both halves, the high half shifted right by 4: low
    // nibbles (even columns) then high nibbles (odd columns).
    const uint8_t* p = row + kChunk / 2 * c;
    const __m512i b =
        left >= kChunk
            ? _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))
            : _mm512_broadcast_i64x4(_mm256_maskz_loadu_epi8(
                  static_cast<__mmask32>((uint64_t{1} << ((left + 1) / 2)) - 1), p));
    const __m512i shift = _mm512_maskz_set1_epi16(0xFFFF0000u, 4);  // the high half by 4
    return _mm512_and_si512(_mm512_srlv_epi16(b, shift), _mm512_set1_epi8(0x0F));
  }
}

// The weight scale of each lane of chunk c (0 for a block past the row): the
// two blocks' bf16 scales broadcast, then each lane takes its block's bytes
// into the high half of an fp32 (bf16 -> fp32 is a 16-bit shift).
template <DType Q>
__m512 load_sw(const bf16* scales, int64_t c, int64_t blocks) {
  uint32_t pair = 0;  // scale of block 2c in the low 16 bits, 2c + 1 in the high
  if (2 * c + 1 < blocks)
    std::memcpy(&pair, scales + 2 * c, 4);
  else
    std::memcpy(&pair, scales + 2 * c, 2);
  // Byte control per lane: lanes of block 2c take bytes 0, 1 of the pair,
  // the others bytes 2, 3; -1 (0x80) zeroes the low half.
  const __m512i ctrl_first = _mm512_set1_epi32(static_cast<int32_t>(0x0100FFFFu));
  const __m512i ctrl_second = _mm512_set1_epi32(static_cast<int32_t>(0x0302FFFFu));
  constexpr __mmask16 lanes_first = Q == DType::i8 ? 0x00FF : 0x0F0F;
  const __m512i ctrl = _mm512_mask_mov_epi32(ctrl_second, lanes_first, ctrl_first);
  return _mm512_castsi512_ps(
      _mm512_shuffle_epi8(_mm512_set1_epi32(static_cast<int32_t>(pair)), ctrl));
}

// y[i * ldy + r] for R weight rows x N input rows, every output in the order
// of dot_reference.
template <DType Q, int R, int N>
void quant_tile(const QuantMatrix& m, int64_t r0, const int8_t* xq, const int32_t* corr,
                const float* sx, int64_t chunks, float* y, int64_t ldy, const Epilogue& ep) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < N; ++i) acc[r][i] = _mm512_setzero_ps();
  const auto* data = reinterpret_cast<const uint8_t*>(m.data);
  // The next tile's rows are prefetched a line per row as this tile streams
  // its own (the weights come from memory; measured faster than leaving it
  // to the hardware prefetcher alone).
  constexpr int64_t bytes_per_chunk = Q == DType::i8 ? kChunk : kChunk / 2;
  const bool prefetch = r0 + 2 * R <= m.rows;
  for (int64_t c = 0; c < chunks; ++c) {
    __m512i u[R];
    __m512 sw[R];
    if (prefetch && (c * bytes_per_chunk) % 64 == 0)
      for (int r = 0; r < R; ++r)
        _mm_prefetch(
            reinterpret_cast<const char*>(data + (r0 + R + r) * m.row_bytes + c * bytes_per_chunk),
            _MM_HINT_T0);
    for (int r = 0; r < R; ++r) {
      u[r] = load_u<Q>(data + (r0 + r) * m.row_bytes, c, m.cols);
      sw[r] = load_sw<Q>(m.scales + (r0 + r) * m.blocks, c, m.blocks);
    }
    for (int i = 0; i < N; ++i) {
      const int64_t xi = i * chunks;
      const __m512i xv = _mm512_loadu_si512(xq + (xi + c) * kChunk);
      const __m512i cv = _mm512_loadu_si512(corr + (xi + c) * 16);
      const __m512 sv = _mm512_loadu_ps(sx + (xi + c) * 16);
      for (int r = 0; r < R; ++r) {
        const __m512i t =
            _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u[r], xv), cv);
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(t), sw[r]);
        acc[r][i] = _mm512_fmadd_ps(f, sv, acc[r][i]);
      }
    }
  }
  for (int i = 0; i < N; ++i)
    for (int r = 0; r < R; ++r)
      store_out(lane_tree_sum(acc[r][i]), r0 + r, y + i * ldy + r0 + r, ep);
}

constexpr int kMaxR = 4, kMaxN = 4;
using QuantTileFn = void (*)(const QuantMatrix&, int64_t, const int8_t*, const int32_t*,
                             const float*, int64_t, float*, int64_t, const Epilogue&);

template <DType Q>
QuantTileFn tile_fn(int r, int n) {
  static constexpr QuantTileFn table[kMaxR][kMaxN] = {
      {quant_tile<Q, 1, 1>, quant_tile<Q, 1, 2>, quant_tile<Q, 1, 3>, quant_tile<Q, 1, 4>},
      {quant_tile<Q, 2, 1>, quant_tile<Q, 2, 2>, quant_tile<Q, 2, 3>, quant_tile<Q, 2, 4>},
      {quant_tile<Q, 3, 1>, quant_tile<Q, 3, 2>, quant_tile<Q, 3, 3>, quant_tile<Q, 3, 4>},
      {quant_tile<Q, 4, 1>, quant_tile<Q, 4, 2>, quant_tile<Q, 4, 3>, quant_tile<Q, 4, 4>}};
  return table[r - 1][n - 1];
}

// Input rows per panel: their quantized form (3 bytes per column) stays in L2
// while every weight tile passes.
constexpr int64_t kPanelRows = 64;

void run(const QuantMatrix& m, const QuantInput& in, int64_t n, float* y, const float* bias,
         bool accumulate) {
  const int64_t C = in.chunks;
  for (int64_t p0 = 0; p0 < n; p0 += kPanelRows) {
    const int64_t np = std::min(kPanelRows, n - p0);
    for (int64_t r0 = 0; r0 < m.rows; r0 += kMaxR) {
      const int rr = static_cast<int>(std::min<int64_t>(kMaxR, m.rows - r0));
      // The weight tile's rows stay in L1 while the panel's inputs pass.
      for (int64_t i0 = p0; i0 < p0 + np; i0 += kMaxN) {
        const int nn = static_cast<int>(std::min<int64_t>(kMaxN, p0 + np - i0));
        const Epilogue ep{bias, accumulate};
        const auto fn =
            m.dtype == DType::i8 ? tile_fn<DType::i8>(rr, nn) : tile_fn<DType::i4>(rr, nn);
        fn(m, r0, in.xq + i0 * C * kChunk, in.corr + i0 * C * 16, in.sx + i0 * C * 16, C,
           y + i0 * m.rows, m.rows, ep);
      }
    }
  }
}

#else

void run(const QuantMatrix& m, const QuantInput& in, int64_t n, float* y, const float* bias,
         bool accumulate) {
  const int64_t C = in.chunks;
  const Epilogue ep{bias, accumulate};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < m.rows; ++r)
      store_out(
          dot_reference(m, r, in.xq + i * C * kChunk, in.corr + i * C * 16, in.sx + i * C * 16, C),
          r, y + i * m.rows + r, ep);
}

#endif

}  // namespace

QuantMatrix matrix_of(const WeightView& w) {
  QuantMatrix m;
  m.data = static_cast<const std::byte*>(w.data);
  m.scales = w.scales;
  m.exponents = w.exponents;
  m.dtype = w.dtype;
  m.rows = w.rows;
  m.cols = w.cols;
  m.row_bytes = quant_row_bytes(w.dtype, w.cols);
  m.blocks = quant_blocks(w.cols);
  return m;
}

void quant_linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
                  bool accumulate) {
  const QuantMatrix m = matrix_of(w);
  const int64_t chunks = (w.cols + kChunk - 1) / kChunk;
  thread_local AlignedScratch xq_scratch, corr_scratch, sx_scratch, row_scratch, scale_scratch;
  const std::span<int8_t> row(
      reinterpret_cast<int8_t*>(row_scratch.get(static_cast<size_t>(chunks * kChunk / 4))),
      static_cast<size_t>(chunks * kChunk));
  const std::span<float> scale(scale_scratch.get(static_cast<size_t>(2 * chunks)),
                               static_cast<size_t>(2 * chunks));
  QuantInput in;
  in.chunks = chunks;
  in.xq = reinterpret_cast<int8_t*>(xq_scratch.get(static_cast<size_t>(n * chunks * kChunk / 4)));
  in.corr = reinterpret_cast<int32_t*>(corr_scratch.get(static_cast<size_t>(n * chunks * 16)));
  in.sx = sx_scratch.get(static_cast<size_t>(n * chunks * 16));
  for (int64_t i = 0; i < n; ++i)
    quantize_input_row(x + i * w.cols, w.cols, w.dtype, chunks, in.xq + i * chunks * kChunk,
                       in.corr + i * chunks * 16, in.sx + i * chunks * 16, row, scale);
  run(m, in, n, y, bias, accumulate);
}

float quant_dot_reference(const float* x, const WeightView& w, int64_t row) {
  const QuantMatrix m = matrix_of(w);
  const int64_t chunks = (w.cols + kChunk - 1) / kChunk;
  std::vector<int8_t> xq(static_cast<size_t>(chunks * kChunk));
  std::vector<int32_t> corr(static_cast<size_t>(chunks * 16));
  std::vector<float> sx(static_cast<size_t>(chunks * 16));
  std::vector<int8_t> q(xq.size());
  std::vector<float> scale(static_cast<size_t>(2 * chunks));
  quantize_input_row(x, w.cols, w.dtype, chunks, xq.data(), corr.data(), sx.data(), q, scale);
  return dot_reference(m, row, xq.data(), corr.data(), sx.data(), chunks);
}

}  // namespace meshlm::ops_detail

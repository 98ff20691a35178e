// MXFP4 weights (model/ops/mxfp4.h): the E2M1 table, E8M0 scales and nibble
// order on hand-built bytes; quantization (grid values exact, ties to even,
// saturation, zero and non-finite blocks, the device layout); linear() on
// mxfp4 weights against its scalar specification bit for bit, for n = 1..40
// and odd shapes, and against the double product of the dequantized weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "model/ops/linear.h"
#include "model/ops/linear_mxfp4.h"
#include "model/ops/mxfp4.h"
#include "model/ops/quant.h"

namespace meshlm {
namespace {

std::vector<std::byte> quantize(const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<std::byte> out(quant_matrix_bytes(DType::mxfp4, rows, cols));
  quantize_matrix(w.data(), rows, cols, cols, DType::mxfp4, out.data());
  return out;
}

WeightView view_of(const QuantMatrix& m) {
  WeightView v{m.data, DType::mxfp4, m.rows, m.cols};
  v.exponents = m.exponents;
  return v;
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, 4) == 0;
}

TEST(Mxfp4, E2M1TableAndE8M0Scales) {
  const float want[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0f, -.5, -1, -1.5, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) EXPECT_TRUE(same_bits(kE2M1[c], want[c])) << c;
  EXPECT_TRUE(std::signbit(kE2M1[8]));
  EXPECT_EQ(kE8M0Scale[127], 1.0f);
  EXPECT_EQ(kE8M0Scale[128], 2.0f);
  EXPECT_EQ(kE8M0Scale[126], 0.5f);
  EXPECT_EQ(kE8M0Scale[0], std::ldexp(1.0f, -127));  // subnormal
  EXPECT_EQ(kE8M0Scale[1], std::ldexp(1.0f, -126));
  EXPECT_EQ(kE8M0Scale[254], std::ldexp(1.0f, 127));
  EXPECT_TRUE(std::isnan(kE8M0Scale[255]));
  EXPECT_EQ(mxfp4_value(7, 120), 6.0f * std::ldexp(1.0f, -7));
  EXPECT_EQ(mxfp4_value(1, 0), std::ldexp(1.0f, -128));  // the smallest value, exact
}

// One row of 64 columns (two blocks) built by hand: exponents first, then the
// codes, column 2j in the low nibble of byte j.
TEST(Mxfp4, NibbleOrderAndLayoutOfHandBuiltBytes) {
  std::vector<uint8_t> buf(2 + 32, 0);
  buf[0] = 127;  // block 0: scale 1
  buf[1] = 128;  // block 1: scale 2
  uint8_t* data = buf.data() + 2;
  data[0] = 0x21;   // column 0: code 1 (0.5), column 1: code 2 (1.0)
  data[1] = 0xF8;   // column 2: code 8 (-0), column 3: code 15 (-6)
  data[16] = 0x7A;  // column 32: code 10 (-1) x 2, column 33: code 7 (6) x 2
  const QuantMatrix m = QuantMatrix::of(buf.data(), DType::mxfp4, 1, 64);
  EXPECT_EQ(m.exponents, buf.data());
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(m.data), data);
  EXPECT_EQ(m.row_bytes, 32);
  EXPECT_EQ(m.blocks, 2);
  EXPECT_EQ(m.q(0, 0), 1);
  EXPECT_EQ(m.q(0, 1), 2);
  EXPECT_EQ(m.q(0, 3), 15);
  EXPECT_EQ(m.scale(0, 31), 1.0f);
  EXPECT_EQ(m.scale(0, 32), 2.0f);
  std::vector<float> row(64);
  m.dequantize_row(0, 0, 64, row.data());
  EXPECT_EQ(row[0], 0.5f);
  EXPECT_EQ(row[1], 1.0f);
  EXPECT_TRUE(row[2] == 0.0f && std::signbit(row[2]));
  EXPECT_EQ(row[3], -6.0f);
  EXPECT_EQ(row[32], -2.0f);
  EXPECT_EQ(row[33], 12.0f);
  for (int k : {4, 31, 34, 63}) EXPECT_EQ(row[static_cast<size_t>(k)], 0.0f) << k;
  // linear() reads the same values: a one-hot input picks column k.
  for (int k : {0, 1, 3, 32, 33}) {
    std::vector<float> x(64, 0.0f);
    x[static_cast<size_t>(k)] = 1.0f;
    float y = 0;
    linear(x.data(), 1, view_of(m), &y);
    EXPECT_EQ(y, row[static_cast<size_t>(k)]) << k;
  }
  // Exponent 126 halves, 255 makes the block NaN.
  buf[0] = 126;
  EXPECT_EQ(QuantMatrix::of(buf.data(), DType::mxfp4, 1, 64).value(0, 1), 0.5f);
  buf[0] = 255;
  EXPECT_TRUE(std::isnan(QuantMatrix::of(buf.data(), DType::mxfp4, 1, 64).value(0, 4)));
  EXPECT_EQ(QuantMatrix::of(buf.data(), DType::mxfp4, 1, 64).value(0, 32), -2.0f);
}

TEST(Mxfp4, LayoutMatchesTheWeightBytesOfThePlanner) {
  for (int64_t cols : {1, 2, 31, 32, 33, 47, 100, 2880})
    for (int64_t rows : {1, 7}) {
      EXPECT_EQ(quant_matrix_bytes(DType::mxfp4, rows, cols),
                weight_bytes(Shape{rows, cols}, DType::mxfp4))
          << cols;
      EXPECT_EQ(quant_matrix_bytes(DType::mxfp4, rows, cols),
                static_cast<uint64_t>(rows * ((cols + 1) / 2 + (cols + 31) / 32)));
    }
  // gpt-oss-20b's gate_up expert: 5760 x 2880 = 90 exponent + 1440 data bytes per row.
  EXPECT_EQ(quant_matrix_bytes(DType::mxfp4, 5760, 2880), 5760u * 1530u);
}

TEST(Mxfp4, RoundsToNearestTiesToEvenAndSaturates) {
  // v already divided by the scale.
  const float in[] = {0.0f, 0.1f, 0.25f, 0.26f, 0.75f, 1.25f, 1.75f, 2.5f,
                      3.5f, 5.0f, 5.01f, 6.0f,  7.0f,  100.f, -0.1f, -2.6f};
  const float out[] = {0, 0, 0, 0.5f, 1, 1, 2, 2, 4, 4, 6, 6, 6, 6, -0.0f, -3};
  for (size_t i = 0; i < std::size(in); ++i)
    EXPECT_TRUE(same_bits(kE2M1[e2m1_code(in[i])], out[i])) << in[i];
  // A block of amax 6 gets scale 1; amax 7.9 too (floor(log2 7.9) - 2 = 0),
  // and saturates to 6; amax 8 gets scale 2.
  std::vector<float> w(32, 0.0f);
  w[0] = 6.0f, w[1] = 1.25f, w[2] = -0.75f;
  auto q = quantize(w, 1, 32);
  QuantMatrix m = QuantMatrix::of(q.data(), DType::mxfp4, 1, 32);
  EXPECT_EQ(m.exponents[0], 127);
  EXPECT_EQ(m.value(0, 1), 1.0f);
  EXPECT_EQ(m.value(0, 2), -1.0f);
  w[0] = 7.9f;
  q = quantize(w, 1, 32);
  m = QuantMatrix::of(q.data(), DType::mxfp4, 1, 32);
  EXPECT_EQ(m.exponents[0], 127);
  EXPECT_EQ(m.value(0, 0), 6.0f);
  w[0] = -8.0f;
  q = quantize(w, 1, 32);
  m = QuantMatrix::of(q.data(), DType::mxfp4, 1, 32);
  EXPECT_EQ(m.exponents[0], 128);
  EXPECT_EQ(m.value(0, 0), -8.0f);
  EXPECT_EQ(m.value(0, 1), 1.0f);  // 1.25 / 2 = 0.625 -> 0.5 (nearest), x 2
  EXPECT_EQ(m.value(0, 2), -1.0f);
}

// Values already on a block's grid (an E2M1 value times a power of two, the
// same for the block) come back bit for bit, -0 included, whatever the block's
// largest code; short last blocks and odd rows.
TEST(Mxfp4, GridValuesRoundTripExactly) {
  std::mt19937_64 rng(5);
  for (int64_t cols : {32, 33, 47, 100, 256}) {
    const int64_t rows = 9;
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b * 32 < cols; ++b) {
        const int shift = static_cast<int>(rng() % 60) - 30;
        const unsigned top = 1 + static_cast<unsigned>(rng() % 7);  // the block's largest code
        for (int64_t k = b * 32; k < std::min(cols, b * 32 + 32); ++k) {
          const unsigned code = static_cast<unsigned>(rng() % (top + 1)) | (rng() % 2 ? 8u : 0u);
          w[static_cast<size_t>(r * cols + k)] = std::ldexp(kE2M1[code], shift);
        }
      }
    const auto q = quantize(w, rows, cols);
    const QuantMatrix m = QuantMatrix::of(q.data(), DType::mxfp4, rows, cols);
    std::vector<float> back(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      m.dequantize_row(r, 0, cols, back.data());
      for (int64_t k = 0; k < cols; ++k)
        ASSERT_TRUE(same_bits(back[static_cast<size_t>(k)], w[static_cast<size_t>(r * cols + k)]))
            << "cols " << cols << " (" << r << ", " << k << "): " << back[static_cast<size_t>(k)]
            << " != " << w[static_cast<size_t>(r * cols + k)];
    }
    if (cols % 2) {  // the unused high nibble of an odd row's last byte is 0
      const auto* d = reinterpret_cast<const uint8_t*>(m.data);
      for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(d[r * m.row_bytes + m.row_bytes - 1] >> 4, 0);
    }
  }
}

TEST(Mxfp4, ZeroTinyAndNonFiniteBlocks) {
  std::vector<float> w(3 * 40, 0.0f);  // row 0: zeros (one -0)
  w[5] = -0.0f;
  w[40 + 3] = 1e-42f;  // row 1: a subnormal amax: exponent clamped to 0, rounds to 0
  w[40 + 4] = 3e-39f;  // 3e-39 / 2^-127 = 0.51 -> 0.5
  w[80 + 35] = std::numeric_limits<float>::infinity();  // row 2, block 1
  w[80 + 1] = std::nanf("");                            // row 2, block 0
  const auto q = quantize(w, 3, 40);
  const QuantMatrix m = QuantMatrix::of(q.data(), DType::mxfp4, 3, 40);
  EXPECT_EQ(m.exponents[0], 0);
  EXPECT_EQ(m.exponents[1], 0);
  for (int k = 0; k < 40; ++k) EXPECT_EQ(m.value(0, k), 0.0f);
  EXPECT_TRUE(std::signbit(m.value(0, 5)));
  EXPECT_EQ(m.exponents[2], 0);
  EXPECT_EQ(m.value(1, 3), 0.0f);
  EXPECT_EQ(m.value(1, 4), std::ldexp(1.0f, -128));
  EXPECT_EQ(m.exponents[4], kE8M0NaN);
  EXPECT_EQ(m.exponents[5], kE8M0NaN);
  for (int k = 0; k < 40; ++k) EXPECT_TRUE(std::isnan(m.value(2, k))) << k;
  // linear(): the NaN row gives NaN, the others stay finite.
  std::vector<float> x(40, 1.0f), y(3);
  linear(x.data(), 1, view_of(m), y.data());
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_TRUE(std::isfinite(y[1]));
  EXPECT_TRUE(std::isnan(y[2]));
}

struct Case {
  std::vector<float> w, x, bias, y0;
  std::vector<std::byte> q;
  QuantMatrix m;
};

Case make_case(int64_t rows, int64_t cols, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> wd(0.f, 0.3f), xd(0.1f, 1.f);
  Case c;
  c.w.resize(static_cast<size_t>(rows * cols));
  for (auto& v : c.w) v = wd(rng);
  if (rows * cols > 40) c.w[7] = 0.0f;
  c.x.resize(static_cast<size_t>(n * cols));
  for (auto& v : c.x) v = xd(rng);
  c.bias.resize(static_cast<size_t>(rows));
  for (auto& v : c.bias) v = xd(rng);
  c.y0.resize(static_cast<size_t>(n * rows));
  for (auto& v : c.y0) v = xd(rng);
  c.q = quantize(c.w, rows, cols);
  c.m = QuantMatrix::of(c.q.data(), DType::mxfp4, rows, cols);
  return c;
}

// Every output of every path (n = 1..40: the streamed tiles, n > 16: the GEMM)
// equals the scalar specification bit for bit, whatever the batch, the
// window of inputs and the tile it falls in; with bias and accumulate too.
TEST(Mxfp4, LinearIsBitExactWhateverTheBatch) {
  const int64_t shapes[][2] = {{1, 16}, {5, 33}, {13, 47}, {37, 100}, {9, 32}, {19, 2880}, {3, 1}};
  for (const auto& s : shapes) {
    const int64_t rows = s[0], cols = s[1], nmax = 40;
    Case c = make_case(rows, cols, nmax, static_cast<uint64_t>(rows * 1000 + cols));
    const WeightView w = view_of(c.m);
    std::vector<float> spec(static_cast<size_t>(nmax * rows));
    for (int64_t i = 0; i < nmax; ++i)
      for (int64_t r = 0; r < rows; ++r)
        spec[static_cast<size_t>(i * rows + r)] =
            ops_detail::mxfp4_dot_reference(c.x.data() + i * cols, w, r);
    for (int64_t n = 1; n <= nmax; ++n)
      for (int variant = 0; variant < 2; ++variant) {
        SCOPED_TRACE("rows " + std::to_string(rows) + " cols " + std::to_string(cols) + " n " +
                     std::to_string(n) + (variant ? " +bias accumulate" : ""));
        const int64_t start = variant ? nmax - n : 0;  // a different window of inputs
        const float* bias = variant ? c.bias.data() : nullptr;
        std::vector<float> got(c.y0.begin(), c.y0.begin() + n * rows);
        linear(c.x.data() + start * cols, n, w, got.data(), bias, variant == 1);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < rows; ++r) {
            float want = spec[static_cast<size_t>((start + i) * rows + r)];
            if (variant) want = c.y0[static_cast<size_t>(i * rows + r)] + (want + c.bias[r]);
            ASSERT_TRUE(same_bits(got[static_cast<size_t>(i * rows + r)], want))
                << "y[" << i << "][" << r << "] = " << got[static_cast<size_t>(i * rows + r)]
                << ", specification " << want;
          }
      }
  }
}

// Against the double-precision product of the dequantized weights: the fp32
// accumulation error only (the weights are exact, the input is not rounded).
TEST(Mxfp4, LinearMatchesTheDoubleProductOfTheDequantizedWeights) {
  for (int64_t n : {1, 8, 32})
    for (const auto& s : {std::pair<int64_t, int64_t>{57, 2880}, {31, 100}}) {
      const int64_t rows = s.first, cols = s.second;
      Case c = make_case(rows, cols, n, 99);
      std::vector<float> y(static_cast<size_t>(n * rows));
      linear(c.x.data(), n, view_of(c.m), y.data(), c.bias.data());
      for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < rows; ++r) {
          double ref = c.bias[r], mag = std::fabs(c.bias[r]);
          for (int64_t k = 0; k < cols; ++k) {
            const double t = static_cast<double>(c.m.value(r, k)) * c.x[i * cols + k];
            ref += t;
            mag += std::fabs(t);
          }
          EXPECT_NEAR(y[static_cast<size_t>(i * rows + r)], ref, 1e-5 * mag + 1e-6)
              << "n " << n << " y[" << i << "][" << r << "]";
        }
    }
}

// Missing exponents, or bf16 scales asked of mxfp4, are bugs (MESHLM_CHECK aborts).
TEST(Mxfp4DeathTest, MisuseIsAnInternalError) {
  std::vector<std::byte> q(quant_matrix_bytes(DType::mxfp4, 2, 32));
  std::vector<float> x(32), y(2);
  EXPECT_DEATH(linear(x.data(), 1, WeightView{q.data(), DType::mxfp4, 2, 32}, y.data()),
               "mxfp4 weights without exponents");
  EXPECT_DEATH(quantize_rows(x.data(), 1, 32, 32, DType::mxfp4, nullptr, q.data()),
               "quantize_rows_mxfp4");
}

}  // namespace
}  // namespace meshlm

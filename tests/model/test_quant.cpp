// Block quantization (model/ops/quant.h): scales, rounding, clamping and int4
// packing against hand-computed blocks; linear() on int8/int4 weights against
// its scalar specification (bit for bit, every batch and shape) and against
// the dequantized fp32 product; the int8 KV row.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "model/ops/linear.h"
#include "model/ops/linear_quant.h"
#include "model/ops/quant.h"

namespace meshlm {
namespace {

std::vector<std::byte> quantize(const std::vector<float>& w, int64_t rows, int64_t cols, DType t) {
  std::vector<std::byte> out(quant_matrix_bytes(t, rows, cols));
  quantize_matrix(w.data(), rows, cols, cols, t, out.data());
  return out;
}

TEST(Quant, Int8ScaleRoundingHalfToEvenAndClamp) {
  // amax 127 -> s = 1: q is w rounded half to even.
  std::vector<float> w = {127.f, 2.5f, 3.5f, -2.5f, -0.5f, 0.49f, 100.4f, -127.f};
  const auto q = quantize(w, 1, 8, DType::i8);
  const QuantMatrix m = QuantMatrix::of(q.data(), DType::i8, 1, 8);
  EXPECT_EQ(m.scale(0, 0), 1.0f);
  const int want[] = {127, 2, 4, -2, 0, 0, 100, -127};
  for (int k = 0; k < 8; ++k) EXPECT_EQ(m.q(0, k), want[k]) << k;
  // amax 1: s = bf16(1/127) = 0.00787353515625 (rounded to nearest even).
  std::vector<float> v = {1.0f, 0.5f, -1.0f};
  const auto qv = quantize(v, 1, 3, DType::i8);
  const QuantMatrix mv = QuantMatrix::of(qv.data(), DType::i8, 1, 3);
  EXPECT_EQ(mv.scale(0, 0), bf16_to_float(float_to_bf16(1.0f / 127.0f)));
  EXPECT_EQ(mv.scale(0, 0), 0.00787353515625f);
  // 1 / s = 127.007...: 1.0 -> 127 (127.007 rounds to 127), 0.5 -> 64 (63.5 -> 64, even).
  EXPECT_EQ(mv.q(0, 0), 127);
  EXPECT_EQ(mv.q(0, 1), 64);
  EXPECT_EQ(mv.q(0, 2), -127);
}

TEST(Quant, ZeroBlockAndShortLastBlock) {
  // Row of 40: block 0 (32 elements) all zero, block 1 (8 elements) amax 8.
  std::vector<float> w(40, 0.0f);
  for (int k = 32; k < 40; ++k) w[static_cast<size_t>(k)] = static_cast<float>(k - 32);
  const auto q = quantize(w, 1, 40, DType::i4);
  const QuantMatrix m = QuantMatrix::of(q.data(), DType::i4, 1, 40);
  EXPECT_EQ(m.blocks, 2);
  EXPECT_EQ(m.scale(0, 0), 0.0f);
  for (int k = 0; k < 32; ++k) EXPECT_EQ(m.q(0, k), 0);
  // s = bf16(7 / 7) = 1: q = 0..7, the last (7) exactly at the clamp.
  EXPECT_EQ(m.scale(0, 39), 1.0f);
  for (int k = 32; k < 40; ++k) EXPECT_EQ(m.q(0, k), k - 32);
  EXPECT_EQ(quant_matrix_bytes(DType::i4, 1, 40), 20u + 4u);
  EXPECT_EQ(quant_matrix_bytes(DType::i8, 3, 40), 3u * (40 + 4));
}

TEST(Quant, Int4NibbleOrderAndOffset) {
  std::vector<float> w = {-7.f, 7.f, 1.f, -1.f};  // amax 7: s = 1
  const auto q = quantize(w, 1, 4, DType::i4);
  // scales first (1 x bf16), then bytes: element 0 low nibble, element 1 high.
  const auto* d = reinterpret_cast<const uint8_t*>(q.data() + 2);
  EXPECT_EQ(d[0], (-7 + 8) | ((7 + 8) << 4));
  EXPECT_EQ(d[1], (1 + 8) | ((-1 + 8) << 4));
}

TEST(Quant, MatchesTheWeightBytesOfThePlanner) {
  for (int64_t cols : {1, 31, 32, 33, 172, 2048})
    for (DType t : {DType::i8, DType::i4})
      EXPECT_EQ(quant_matrix_bytes(t, 7, cols), weight_bytes(Shape{7, cols}, t)) << cols;
}

// linear() on quantized weights: every output equals the scalar
// specification (quant_dot_reference) bit for bit whatever the batch and the
// tile, and stays close to the dequantized fp32 product (the input is
// quantized per block of 32 too).
TEST(Quant, LinearMatchesItsSpecificationAndTheDequantizedProduct) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> d(0.f, 0.2f);
  for (DType t : {DType::i8, DType::i4})
    for (int64_t rows : {1, 5, 13, 40})
      for (int64_t cols : {16, 40, 47, 64, 100, 172, 260})
        for (int64_t n : {1, 3, 9, 17, 70}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " rows " + std::to_string(rows) + " cols " +
                       std::to_string(cols) + " n " + std::to_string(n));
          std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(n * cols));
          for (auto& v : w) v = d(rng);
          for (auto& v : x) v = d(rng);
          x[0] = 0.0f;  // zeros and a block of zeros in the input
          if (cols >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
          const auto q = quantize(w, rows, cols, t);
          const QuantMatrix m = QuantMatrix::of(q.data(), t, rows, cols);
          const WeightView view{m.data, t, rows, cols, m.scales};
          std::vector<float> got(static_cast<size_t>(n * rows)), bias(static_cast<size_t>(rows));
          for (auto& v : bias) v = d(rng);
          linear(x.data(), n, view, got.data());
          for (int64_t i = 0; i < n; ++i)
            for (int64_t r = 0; r < rows; ++r)
              ASSERT_EQ(got[static_cast<size_t>(i * rows + r)],
                        ops_detail::quant_dot_reference(x.data() + i * cols, view, r))
                  << "row " << i << " output " << r;
          // One input row alone gives its bits in the batch; bias and accumulate.
          std::vector<float> one(static_cast<size_t>(rows), 1.0f);
          const int64_t last = n - 1;
          linear(x.data() + last * cols, 1, view, one.data(), bias.data(), true);
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(
                one[static_cast<size_t>(r)],
                1.0f + (got[static_cast<size_t>(last * rows + r)] + bias[static_cast<size_t>(r)]));
          // Close to the dequantized weights in fp32, over enough outputs.
          if (got.size() < 100) continue;
          std::vector<float> deq(w.size()), want(got.size());
          for (int64_t r = 0; r < rows; ++r) m.dequantize_row(r, 0, cols, deq.data() + r * cols);
          linear(x.data(), n, WeightView{deq.data(), DType::f32, rows, cols}, want.data());
          double err = 0, ref = 0;
          for (size_t i = 0; i < got.size(); ++i) {
            err += (got[i] - want[i]) * (got[i] - want[i]);
            ref += want[i] * want[i];
          }
          EXPECT_LT(err / ref, 1e-4);
        }
}

TEST(Quant, NonFiniteValuesPropagateAsNaN) {
  // An input holding NaN or Inf gives NaN outputs, as fp32 would, not garbage.
  std::vector<float> w(2 * 64, 0.25f);
  const auto q = quantize(w, 2, 64, DType::i8);
  const QuantMatrix m = QuantMatrix::of(q.data(), DType::i8, 2, 64);
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x(64, 1.0f), y(2);
    x[40] = bad;
    linear(x.data(), 1, WeightView{m.data, DType::i8, 2, 64, m.scales}, y.data());
    EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1])) << bad;
  }
  // A weight block holding NaN gets a NaN scale: it dequantizes to NaN.
  w[5] = std::nanf("");
  const auto qn = quantize(w, 2, 64, DType::i4);
  EXPECT_TRUE(std::isnan(QuantMatrix::of(qn.data(), DType::i4, 2, 64).scale(0, 5)));
  std::vector<float> v(16, 1.0f);
  v[3] = std::numeric_limits<float>::infinity();
  std::vector<std::byte> row(16 + 2);
  quantize_kv_row(v.data(), 16, row.data());
  std::vector<float> back(16);
  dequantize_kv_row(row.data(), 16, back.data());
  EXPECT_TRUE(std::isnan(back[0]));
}

TEST(Quant, KvRowOneScaleOverTheHeadDimension) {
  std::vector<float> v(64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) - 20.0f;  // amax 43
  std::vector<std::byte> row(64 + 2);
  quantize_kv_row(v.data(), 64, row.data());
  std::vector<float> back(64);
  dequantize_kv_row(row.data(), 64, back.data());
  const float s = bf16_to_float(float_to_bf16(43.0f / 127.0f));
  for (size_t i = 0; i < v.size(); ++i) {
    const float q = std::clamp(std::nearbyint(v[i] / s), -127.0f, 127.0f);
    EXPECT_EQ(back[i], q * s) << i;
    EXPECT_LE(std::fabs(back[i] - v[i]), s / 2 + 1e-6f) << i;
  }
}

}  // namespace
}  // namespace meshlm

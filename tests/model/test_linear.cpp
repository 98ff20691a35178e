// linear(): y[n, rows] = x[n, cols] · Wᵀ (+ bias) (+= y), fp32 and bf16
// weights, against a double-precision reference; determinism and batch
// invariance (a row's bits do not depend on n or on the other rows).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "model/ops/linear.h"
#include "model/ops/linear_tile.h"

namespace meshlm {
namespace {

struct Problem {
  int64_t n, rows, cols;
  DType dtype;
  bool bias, accumulate;
};

std::string name_of(const Problem& p) {
  return "n=" + std::to_string(p.n) + " rows=" + std::to_string(p.rows) +
         " cols=" + std::to_string(p.cols) + " " + dtype_name(p.dtype) + (p.bias ? " +bias" : "") +
         (p.accumulate ? " accumulate" : "");
}

// Seeded data with real variance: weights ~ N(0, 1/cols) like a trained
// layer, inputs ~ N(0.1, 1) (a non-zero mean exercises cancellation).
struct Data {
  std::vector<float> x, w32, bias, y0;  // x [n, cols], w32 [rows, cols], bias [rows], y0 [n, rows]
  std::vector<bf16> w16;                // [rows, cols]
  explicit Data(const Problem& p, uint64_t seed = 7) {
    std::mt19937_64 rng(seed ^ static_cast<uint64_t>(p.n * 1000003 + p.rows * 1009 + p.cols));
    std::normal_distribution<float> wd(0.f, 1.f / std::sqrt(static_cast<float>(p.cols + 1)));
    std::normal_distribution<float> xd(0.1f, 1.f);
    x.resize(static_cast<size_t>(p.n * p.cols));
    for (auto& v : x) v = xd(rng);
    w32.resize(static_cast<size_t>(p.rows * p.cols));
    w16.resize(w32.size());
    for (size_t i = 0; i < w32.size(); ++i) {
      w16[i] = float_to_bf16(wd(rng));
      // fp32 weights with full mantissas; bf16 weights are their own values.
      w32[i] = p.dtype == DType::bf16 ? bf16_to_float(w16[i]) : wd(rng);
    }
    bias.resize(static_cast<size_t>(p.rows));
    for (auto& v : bias) v = xd(rng);
    y0.resize(static_cast<size_t>(p.n * p.rows));
    for (auto& v : y0) v = xd(rng);
  }
  WeightView view(const Problem& p) const {
    return {p.dtype == DType::f32 ? static_cast<const void*>(w32.data()) : w16.data(), p.dtype,
            p.rows, p.cols};
  }
};

double variance(const std::vector<float>& v) {
  double s = 0, s2 = 0;
  for (float f : v) s += f, s2 += static_cast<double>(f) * f;
  const double m = s / static_cast<double>(v.size());
  return s2 / static_cast<double>(v.size()) - m * m;
}

// Runs linear() and checks every element against the double reference:
// |y - ref| <= 1e-5 * (sum_k |x_k w_k| + |bias| + |y0|) + 1e-6, i.e. a few
// fp32 ulps of the magnitude that the fp32 accumulation can lose (the 16-lane
// order keeps the error far below the sequential-sum bound cols * eps).
void check_against_reference(const Problem& p) {
  SCOPED_TRACE(name_of(p));
  Data d(p);
  if (p.n * p.cols > 16) {
    ASSERT_GT(variance(d.x), 0.5);
  }
  if (p.rows * p.cols > 16) {
    ASSERT_GT(variance(d.w32), 0.1 / static_cast<double>(p.cols + 1));
  }
  std::vector<float> y = d.y0;
  linear(d.x.data(), p.n, d.view(p), y.data(), p.bias ? d.bias.data() : nullptr, p.accumulate);
  int bad = 0;
  for (int64_t i = 0; i < p.n; ++i)
    for (int64_t r = 0; r < p.rows; ++r) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < p.cols; ++k) {
        const double t = static_cast<double>(d.x[i * p.cols + k]) * d.w32[r * p.cols + k];
        ref += t;
        mag += std::fabs(t);
      }
      if (p.bias) ref += d.bias[r], mag += std::fabs(d.bias[r]);
      const double prior = d.y0[i * p.rows + r];
      if (p.accumulate) ref += prior, mag += std::fabs(prior);
      const double got = y[i * p.rows + r];
      const double tol = 1e-5 * mag + 1e-6;
      if (!(std::fabs(got - ref) <= tol) && ++bad <= 5)
        ADD_FAILURE() << "y[" << i << "][" << r << "] = " << got << ", reference " << ref
                      << " (tolerance " << tol << ")";
    }
  EXPECT_EQ(bad, 0);
}

TEST(Linear, MatchesDoubleReferenceOverShapes) {
  // Odd sizes, sizes around the 16-lane chunk and the tile shapes (rows %
  // 8/6/5/4/3, n around 8 and the 6-row prefill tile), and a long row.
  const int64_t ns[] = {1, 2, 3, 7, 8, 9, 64};
  const int64_t shapes[][2] = {{1, 1},   {5, 3},    {17, 15},  {16, 16},  {33, 17},
                               {64, 31}, {13, 100}, {96, 130}, {7, 1000}, {29, 257}};
  for (DType dt : {DType::f32, DType::bf16})
    for (int64_t n : ns)
      for (const auto& s : shapes)
        for (int variant = 0; variant < 3; ++variant)
          check_against_reference({n, s[0], s[1], dt, variant >= 1, variant == 2});
}

TEST(Linear, LongRowsAndLargeBatch) {
  for (DType dt : {DType::f32, DType::bf16}) {
    check_against_reference({1, 70, 4100, dt, false, false});
    check_against_reference({2, 64, 2048, dt, true, true});
    check_against_reference({203, 45, 300, dt, true, false});  // several prefill panels/tiles
  }
}

TEST(Linear, EmptyShapes) {
  // cols == 0: y = bias (or 0), accumulate adds it; n == 0 or rows == 0: no-op.
  std::vector<float> y = {5.f, 6.f, 7.f, 8.f};
  const float bias[2] = {1.f, 2.f};
  linear(nullptr, 2, WeightView{nullptr, DType::f32, 2, 0}, y.data(), bias, true);
  EXPECT_EQ(y, (std::vector<float>{6.f, 8.f, 8.f, 10.f}));
  linear(nullptr, 2, WeightView{nullptr, DType::bf16, 2, 0}, y.data());
  EXPECT_EQ(y, (std::vector<float>{0.f, 0.f, 0.f, 0.f}));
  std::vector<float> big(24, 9.f);  // n = 12: the prefill path
  linear(nullptr, 12, WeightView{nullptr, DType::f32, 2, 0}, big.data(), bias);
  for (size_t i = 0; i < big.size(); ++i) EXPECT_EQ(big[i], bias[i % 2]);
  y = {3.f};
  linear(nullptr, 0, WeightView{nullptr, DType::f32, 1, 4}, y.data());
  linear(nullptr, 1, WeightView{nullptr, DType::f32, 0, 4}, y.data());
  EXPECT_EQ(y[0], 3.f);
}

// Bits of row i must equal the bits of the same row computed alone, in any
// batch (different n, different neighbours) and on repeated calls.
TEST(Linear, RowResultIndependentOfBatch) {
  for (DType dt : {DType::f32, DType::bf16})
    for (int64_t cols : {37, 2048}) {
      const int64_t rows = 83, big = 200;  // 200 rows: decode and prefill paths
      Problem p{big, rows, cols, dt, true, false};
      SCOPED_TRACE(name_of(p));
      Data d(p);
      const WeightView w = d.view(p);
      std::vector<float> y_all(static_cast<size_t>(big * rows));
      linear(d.x.data(), big, w, y_all.data(), d.bias.data());
      std::vector<float> again(y_all.size());
      linear(d.x.data(), big, w, again.data(), d.bias.data());
      EXPECT_EQ(0, std::memcmp(again.data(), y_all.data(), again.size() * 4))
          << "not deterministic";
      // Every sub-batch [start, start + n) for n in 1..17 and a large one.
      for (int64_t n : {1, 2, 3, 5, 6, 7, 8, 9, 13, 17, 150})
        for (int64_t start : {int64_t{0}, int64_t{5}, big - n}) {
          std::vector<float> y(static_cast<size_t>(n * rows));
          linear(d.x.data() + start * cols, n, w, y.data(), d.bias.data());
          EXPECT_EQ(0, std::memcmp(y.data(), y_all.data() + start * rows, y.size() * 4))
              << "rows " << start << ".." << start + n - 1 << " differ from the batch of " << big;
        }
      // A row among different neighbours.
      std::vector<float> mixed(d.x.begin(), d.x.begin() + 8 * cols);
      std::mt19937 rng(3);
      std::normal_distribution<float> nd;
      for (int64_t k = 0; k < 7 * cols; ++k) mixed[static_cast<size_t>(cols + k)] = nd(rng);
      std::vector<float> y(static_cast<size_t>(8 * rows));
      linear(mixed.data(), 8, w, y.data(), d.bias.data());
      EXPECT_EQ(0, std::memcmp(y.data(), y_all.data(), static_cast<size_t>(rows) * 4));
    }
}

// The order of linear_tile.h's specification (portable emulation) is the one
// the kernels follow: bit-identical results.
TEST(Linear, FollowsTheDocumentedSummationOrder) {
  for (DType dt : {DType::f32, DType::bf16})
    for (int64_t n : {1, 4, 8, 40, 64}) {
      Problem p{n, 19, 133, dt, false, false};
      SCOPED_TRACE(name_of(p));
      Data d(p);
      std::vector<float> y(static_cast<size_t>(n * p.rows));
      linear(d.x.data(), n, d.view(p), y.data());
      for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < p.rows; ++r) {
          const float* x = d.x.data() + i * p.cols;
          const float want =
              dt == DType::f32
                  ? ops_detail::dot_portable(d.w32.data() + r * p.cols, 16, x, 16, p.cols)
                  : ops_detail::dot_portable(d.w16.data() + r * p.cols, 16, x, 16, p.cols);
          ASSERT_EQ(std::memcmp(&want, &y[static_cast<size_t>(i * p.rows + r)], 4), 0)
              << "y[" << i << "][" << r << "] = " << y[static_cast<size_t>(i * p.rows + r)]
              << ", documented order gives " << want;
        }
    }
}

// bf16 weights give exactly the bits of their fp32 widening.
TEST(Linear, Bf16EqualsItsFp32Widening) {
  for (int64_t n : {1, 5, 8, 70}) {
    Problem p{n, 41, 300, DType::bf16, true, false};
    Data d(p);  // w32 holds the widened bf16 values
    std::vector<float> y16(static_cast<size_t>(n * p.rows)), y32(y16.size());
    linear(d.x.data(), n, WeightView{d.w16.data(), DType::bf16, p.rows, p.cols}, y16.data(),
           d.bias.data());
    linear(d.x.data(), n, WeightView{d.w32.data(), DType::f32, p.rows, p.cols}, y32.data(),
           d.bias.data());
    EXPECT_EQ(0, std::memcmp(y16.data(), y32.data(), y16.size() * 4)) << "n=" << n;
  }
}

// Inputs at any alignment (rows of odd length, offset pointers).
TEST(Linear, UnalignedPointers) {
  Problem p{9, 21, 67, DType::bf16, true, true};
  Data d(p);
  std::vector<float> xs(d.x.size() + 1);
  std::memcpy(xs.data() + 1, d.x.data(), d.x.size() * 4);
  std::vector<bf16> ws(d.w16.size() + 1);
  std::memcpy(ws.data() + 1, d.w16.data(), d.w16.size() * 2);
  std::vector<float> a = d.y0, b = d.y0;
  linear(d.x.data(), p.n, d.view(p), a.data(), d.bias.data(), true);
  linear(xs.data() + 1, p.n, WeightView{ws.data() + 1, DType::bf16, p.rows, p.cols}, b.data(),
         d.bias.data(), true);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

}  // namespace
}  // namespace meshlm

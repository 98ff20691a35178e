// The shared block walk and element conversions behind every read_block:
// runs of any block of tensors of rank 1-4 (with and without row splitting),
// and conversions bit-identical to the scalar reference on special values,
// odd lengths and unaligned sources.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "model/io/block_copy.h"
#include "sharding/error.h"

namespace meshlm {
namespace {

TEST(BlockCopy, RunsCoverExactlyTheBlockInOrder) {
  std::mt19937_64 rng(77);
  for (int trial = 0; trial < 400; ++trial) {
    const int nd = 1 + trial % 4;
    Shape shape(nd), offset(nd), block(nd);
    for (int d = 0; d < nd; ++d) {
      shape[d] = std::uniform_int_distribution<int64_t>(1, 7)(rng);
      offset[d] = std::uniform_int_distribution<int64_t>(0, shape[d] - 1)(rng);
      block[d] = std::uniform_int_distribution<int64_t>(1, shape[d] - offset[d])(rng);
      if (trial % 5 == 0 && d > 0) offset[d] = 0, block[d] = shape[d];  // merged runs
    }
    const bool split = trial % 2 == 1;
    // Expected: flat source index of every block element, row-major.
    std::vector<int64_t> want;
    std::vector<int64_t> idx(nd, 0);
    for (;;) {
      int64_t flat = 0;
      for (int d = 0; d < nd; ++d) flat = flat * shape[d] + offset[d] + idx[d];
      want.push_back(flat);
      int d = nd - 1;
      for (; d >= 0; --d) {
        if (++idx[d] < block[d]) break;
        idx[d] = 0;
      }
      if (d < 0) break;
    }
    std::vector<int64_t> got(want.size(), -1);
    const int64_t row = num_elements(shape) / shape[0];
    for_each_block_run(shape, offset, block, split, [&](int64_t src, int64_t dst, int64_t n) {
      ASSERT_LE(dst + n, static_cast<int64_t>(got.size()));
      if (split) {
        ASSERT_EQ(src / row, (src + n - 1) / row) << "run crosses a row";
      }
      for (int64_t i = 0; i < n; ++i) got[dst + i] = src + i;
    });
    ASSERT_EQ(got, want) << "shape " << shape_to_string(shape) << " offset "
                         << shape_to_string(offset) << " block " << shape_to_string(block);
  }
  int calls = 0;
  for_each_block_run({4, 0}, {0, 0}, {4, 0}, false, [&](int64_t, int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(BlockCopy, ConversionsMatchTheScalarReference) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> special = {0.0f, -0.0f, 1.0f, -1.5f, inf, -inf, std::nanf(""), 1e-40f,
                                      -3e-39f, 65504.0f, 7e4f, 1e-8f, 3.0e38f,
                                      // bf16 rounding ties: 1 + 2^-8 (to even: 1), 1 + 3*2^-8 (up)
                                      1.00390625f, 1.01171875f};
  constexpr int64_t n = 1037;  // odd length: vector tails
  std::vector<float> values(n);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 3);
  for (int64_t i = 0; i < n; ++i)
    values[i] = i < static_cast<int64_t>(special.size()) ? special[i] : normal(rng);
  // Unaligned source: one byte into the buffer.
  std::vector<std::byte> raw(4 * n + 1);
  std::memcpy(raw.data() + 1, values.data(), n * sizeof(float));
  std::vector<uint16_t> b16(n);
  convert_elements(raw.data() + 1, DType::f32, b16.data(), DType::bf16, n);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t want = float_to_bf16(values[i]).bits;
    ASSERT_EQ(b16[i], want) << "f32 -> bf16 of " << values[i];
  }
  std::vector<uint16_t> halves(n);
  for (int64_t i = 0; i < n; ++i) halves[i] = float_to_fp16(values[i]);
  std::vector<std::byte> raw16(2 * n + 1);
  for (auto [bits, dtype] : {std::pair{&b16, DType::bf16}, std::pair{&halves, DType::f16}}) {
    std::memcpy(raw16.data() + 1, bits->data(), n * sizeof(uint16_t));
    std::vector<float> f(n);
    std::vector<uint16_t> to_bf16(n);
    convert_elements(raw16.data() + 1, dtype, f.data(), DType::f32, n);
    convert_elements(raw16.data() + 1, dtype, to_bf16.data(), DType::bf16, n);
    for (int64_t i = 0; i < n; ++i) {
      const float want =
          dtype == DType::bf16 ? bf16_to_float(bf16{(*bits)[i]}) : fp16_to_float((*bits)[i]);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(f[i]));
      } else {
        ASSERT_EQ(std::bit_cast<uint32_t>(f[i]), std::bit_cast<uint32_t>(want))
            << dtype_name(dtype) << " -> f32 of element " << i;
      }
      ASSERT_EQ(to_bf16[i], float_to_bf16(want).bits) << dtype_name(dtype) << " -> bf16 " << i;
    }
  }
  std::vector<float> out(4);
  EXPECT_THROW(convert_elements(raw.data(), DType::f32, out.data(), DType::i8, 4), Error);
}

}  // namespace
}  // namespace meshlm

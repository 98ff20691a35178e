#include "model/ops/mxfp4.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/ops/quant.h"

namespace meshlm {

uint8_t e2m1_code(float v) {
  // Midpoints between consecutive magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6 (codes
  // 0..7, exact in fp32); a tie goes to the even code.
  static constexpr float kMid[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  const float a = std::fabs(v);
  uint8_t code = 0;
  for (uint8_t i = 0; i < 7; ++i)
    if (a > kMid[i] || (a == kMid[i] && (i + 1) % 2 == 0)) code = static_cast<uint8_t>(i + 1);
  return static_cast<uint8_t>(code | (std::signbit(v) ? 8u : 0u));
}

uint8_t mxfp4_block_exponent(const float* v, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return kE8M0NaN;
    amax = std::max(amax, std::fabs(v[i]));
  }
  if (amax == 0.0f) return 0;
  // ilogb is floor(log2) exactly, subnormals included; 2 = E2M1's largest exponent.
  const int shared = std::clamp(std::ilogb(amax) - 2, -kE8M0Bias, kE8M0Bias);
  return static_cast<uint8_t>(shared + kE8M0Bias);
}

void quantize_rows_mxfp4(const float* src, int64_t rows, int64_t cols, int64_t ld,
                         uint8_t* exponents, std::byte* out_data) {
  const int64_t blocks = quant_blocks(cols), row_bytes = quant_row_bytes(DType::mxfp4, cols);
  auto* data = reinterpret_cast<uint8_t*>(out_data);
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = src + r * ld;
    uint8_t* d = data + r * row_bytes;
    std::memset(d, 0, static_cast<size_t>(row_bytes));
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t k0 = b * kQuantBlock, n = std::min<int64_t>(kQuantBlock, cols - k0);
      const uint8_t e = mxfp4_block_exponent(w + k0, n);
      exponents[r * blocks + b] = e;
      if (e == kE8M0NaN) continue;
      // v / 2^shared as an exact power-of-two scaling (|result| < 8, no underflow
      // that matters: anything below 0.25 rounds to zero).
      const int shared = e - kE8M0Bias;
      for (int64_t k = k0; k < k0 + n; ++k)
        d[k / 2] |= static_cast<uint8_t>(e2m1_code(std::ldexp(w[k], -shared)) << (4 * (k % 2)));
    }
  }
}

}  // namespace meshlm

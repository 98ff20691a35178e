// MXFP4 weights (OCP Microscaling Formats (MX) v1.0; gpt-oss's expert
// matrices; docs/DESIGN.md §5, "Quantized weights"). A [rows, cols] matrix is
// stored per row in blocks of 32 consecutive columns (the last block of a row
// may be shorter): each element a 4-bit E2M1 code, each block one E8M0 byte e.
// The element's value is kE2M1[code] · 2^(e − 127), exact in fp32 (e = 0 gives
// the subnormal scale 2^−127; e = 255 is NaN, the whole block NaN; e ≥ 253
// with |kE2M1[code]| ≥ 2 exceeds fp32 and gives ±Inf, which quantization
// never produces). Byte j of a row holds column 2j in its low nibble and
// 2j + 1 in its high nibble (int4's order), ceil(cols / 2) bytes per row.
//
// Device layout of one matrix (QuantMatrix::of in quant.h): the exponents
// [rows][ceil(cols / 32)] u8, then the data [rows][ceil(cols / 2)] bytes —
// quant_matrix_bytes(mxfp4, ...) = weight_bytes(shape, mxfp4); byte for byte
// a released gpt-oss checkpoint's `*_scales` [.., out, in/32] and `*_blocks`
// [.., out, in/32, 16] of one expert.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace meshlm {

// The E2M1 values of the 16 codes: sign bit 3, exponent bits 2..1, mantissa bit 0.
inline constexpr float kE2M1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
inline constexpr float kE2M1Max = 6.0f;
inline constexpr int kE8M0Bias = 127;
inline constexpr uint8_t kE8M0NaN = 255;

// kE8M0Scale[e] = 2^(e − 127) in fp32, exactly (e = 0: the subnormal 2^−127),
// and NaN for e = 255.
inline constexpr std::array<float, 256> kE8M0Scale = [] {
  std::array<float, 256> t{};
  for (uint32_t e = 0; e < 256; ++e)
    t[e] = std::bit_cast<float>(e == 0 ? 0x00400000u : e == 255 ? 0x7FC00000u : e << 23);
  return t;
}();

// The value of code `code` (low 4 bits) in a block of exponent e.
inline float mxfp4_value(unsigned code, uint8_t e) {
  return kE2M1[code & 15u] * kE8M0Scale[e];
}

// The code of v (v already divided by its block's scale): the nearest E2M1
// value, ties to the even mantissa (even code), |v| ≥ 6 saturating to ±6; the
// sign is kept (a negative v that rounds to zero gives −0, code 8). v must
// not be NaN.
uint8_t e2m1_code(float v);

// The exponent of a block of n values by the OCP rule: e = floor(log2(amax))
// − 2 + 127, clamped to 0..254; 0 (scale 2^−127) when amax = 0, like the OCP
// reference library; 255 (NaN) when the block holds NaN or Inf.
uint8_t mxfp4_block_exponent(const float* v, int64_t n);

// Quantizes src [rows, cols] (row stride ld) to mxfp4: the block exponents
// into `exponents` ([rows][ceil(cols / 32)]), the codes into `data`
// ([rows][ceil(cols / 2)]); each element's code is e2m1_code(v / scale), the
// unused high nibble of an odd row's last byte 0, a NaN block's codes 0.
// Values already on a block's grid come back exactly.
void quantize_rows_mxfp4(const float* src, int64_t rows, int64_t cols, int64_t ld,
                         uint8_t* exponents, std::byte* data);

}  // namespace meshlm

// Element types: names, sizes and the bf16/fp16 <-> fp32 conversions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace meshlm {

// Tensor storage types (fp32 .. int4, and mxfp4: OCP microscaling FP4 E2M1
// values with one E8M0 scale per 32, gpt-oss's expert weights) and two
// element types that only move data: int32 (token ids) and uint8 (raw bytes:
// records, packed blocks).
enum class DType { f32, bf16, f16, i8, i4, i32, u8, mxfp4 };

// "fp32"/"f32"/"float32", "bf16"/"bfloat16", "fp16"/"f16"/"float16", "int8",
// "int4", "int32", "uint8", "mxfp4".
DType parse_dtype(const std::string& s);
const char* dtype_name(DType t);  // canonical: fp32, bf16, fp16, int8, int4, int32, uint8, mxfp4
// Bits per element of the data itself (int4, mxfp4 = 4); block scales are extra.
int dtype_bits(DType t);
// Bytes of n elements (rounded up for int4, mxfp4), without quantization scales.
inline uint64_t dtype_bytes(DType t, uint64_t n) {
  return (n * dtype_bits(t) + 7) / 8;
}

// bfloat16 stored as its 16 raw bits. Conversion rounds to nearest even; NaN stays NaN.
struct bf16 {
  uint16_t bits = 0;
};

inline float bf16_to_float(bf16 v) {
  uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Branch-free (a select, not a jump), so loops over it vectorise.
inline bf16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return bf16{static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded)};
}

// IEEE half precision (F16 tensors in safetensors), stored as its 16 raw bits.
float fp16_to_float(uint16_t h);
uint16_t float_to_fp16(float f);
struct fp16 {
  uint16_t bits = 0;
};

}  // namespace meshlm

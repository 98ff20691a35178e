#include "sharding/dtype.h"

#include "sharding/error.h"

namespace meshlm {

DType parse_dtype(const std::string& s) {
  if (s == "fp32" || s == "f32" || s == "float32" || s == "float" || s == "F32") return DType::f32;
  if (s == "bf16" || s == "bfloat16" || s == "BF16") return DType::bf16;
  if (s == "fp16" || s == "f16" || s == "float16" || s == "half" || s == "F16") return DType::f16;
  if (s == "int8" || s == "i8" || s == "I8") return DType::i8;
  if (s == "int4" || s == "i4") return DType::i4;
  if (s == "int32" || s == "i32" || s == "I32") return DType::i32;
  if (s == "uint8" || s == "u8" || s == "U8") return DType::u8;
  if (s == "mxfp4" || s == "MXFP4") return DType::mxfp4;
  MESHLM_FAIL(
      "unknown dtype '" << s
                        << "' (expected one of fp32, bf16, fp16, int8, int4, mxfp4, int32, uint8)");
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "fp32";
    case DType::bf16:
      return "bf16";
    case DType::f16:
      return "fp16";
    case DType::i8:
      return "int8";
    case DType::i4:
      return "int4";
    case DType::i32:
      return "int32";
    case DType::u8:
      return "uint8";
    case DType::mxfp4:
      return "mxfp4";
  }
  return "?";
}

int dtype_bits(DType t) {
  switch (t) {
    case DType::f32:
    case DType::i32:
      return 32;
    case DType::bf16:
    case DType::f16:
      return 16;
    case DType::i8:
    case DType::u8:
      return 8;
    case DType::i4:
    case DType::mxfp4:
      return 4;
  }
  return 0;
}

float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_fp16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (absu >= 0x477ff000u) return sign | 0x7c00u;  // overflow -> inf
  if (absu < 0x38800000u) {                        // subnormal or zero
    if (absu < 0x33000000u) return sign;
    const uint32_t exp = absu >> 23;
    const uint32_t mant = (absu & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14 + (113 - exp) - 1
    uint32_t half = mant >> (shift);
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t h = ((absu >> 13) - ((127 - 15) << 10));
  const uint32_t rem = absu & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

}  // namespace meshlm

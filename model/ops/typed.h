// Element access for tensors stored in fp32, bf16 or fp16 (weights, KV cache):
// compute is always fp32, storage follows the plan's dtype.
#pragma once

#include <cstdint>

#include "sharding/dtype.h"
#include "sharding/error.h"

namespace meshlm {

inline float to_f32(float v) {
  return v;
}
inline float to_f32(bf16 v) {
  return bf16_to_float(v);
}
inline float to_f32(fp16 v) {
  return fp16_to_float(v.bits);
}
inline void from_f32(float v, float* dst) {
  *dst = v;
}
inline void from_f32(float v, bf16* dst) {
  *dst = float_to_bf16(v);
}
inline void from_f32(float v, fp16* dst) {
  dst->bits = float_to_fp16(v);
}

// Calls f(T{}) with T = float, bf16 or fp16 according to `dtype` (other
// dtypes are a bug: the runtime validates dtypes before it allocates anything).
template <class F>
decltype(auto) with_storage_type(DType dtype, F&& f) {
  MESHLM_CHECK(dtype == DType::f32 || dtype == DType::bf16 || dtype == DType::f16,
               "storage dtype must be fp32, bf16 or fp16, got " << dtype_name(dtype));
  if (dtype == DType::bf16) return f(bf16{});
  if (dtype == DType::f16) return f(fp16{});
  return f(float{});
}

}  // namespace meshlm

// RMSNorm: out = x * w / sqrt(mean(x^2) + eps), with the llama2.c reference's
// order of operations (bit-faithful in fp32).
#pragma once

#include <cstdint>

#include "sharding/dtype.h"

namespace meshlm {

// x [n, D] row-major, w [D] (f32 or bf16) -> out [n, D]. out may alias x.
void rmsnorm(float* out, const float* x, const void* w, DType w_dtype, int64_t n, int64_t D,
             float eps);

}  // namespace meshlm

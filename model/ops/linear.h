// Linear layers: y = x · Wᵀ (+ bias), W stored [out, in] row-major in fp32 or
// bf16, x and y fp32 (docs/DESIGN.md §4). Every output element is computed in
// one fixed order, so it is bit-identical whatever the batch size or the other
// rows, and a bf16 matrix gives the bits of its fp32 widening. n <= 16 streams
// the weights once (decode GEMV); n > 16 runs a register-blocked GEMM
// (prefill). Single-threaded; per-thread scratch only grows. Numerics, paths
// and measured performance: docs/DESIGN.md §11.
#pragma once

#include <cstdint>

#include "sharding/dtype.h"

namespace meshlm {

// A weight matrix view: `rows` = out_features, `cols` = in_features.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::f32;  // f32 or bf16
  int64_t rows = 0;
  int64_t cols = 0;
};

// y[n, rows] = x[n, cols] · Wᵀ, plus bias[rows] when given. When
// `accumulate` is true, adds into y instead of overwriting it. x, W and y
// must not overlap. Another dtype, a negative size or a null pointer where
// data is needed is a bug (MESHLM_CHECK).
void linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias = nullptr,
            bool accumulate = false);

}  // namespace meshlm

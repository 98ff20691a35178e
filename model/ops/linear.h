// Linear layers: y = x · Wᵀ (+ bias), W stored [out, in] row-major (DESIGN.md §4)
// in fp32 or bf16; x and y are fp32. The hot path of prefill (GEMM, n = many
// tokens) and decode (n = local batch, often 1: bandwidth-bound GEMV).
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
// `accumulate` is true, adds into y instead of overwriting it.
void linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias = nullptr,
            bool accumulate = false);

}  // namespace meshlm

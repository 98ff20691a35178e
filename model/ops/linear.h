// Linear layers: y = x · Wᵀ (+ bias), W stored [out, in] row-major in fp32,
// bf16, fp16, int8, int4 or mxfp4 (block-quantized), x and y fp32
// (docs/DESIGN.md §4). Every output element is computed in one fixed order, so
// it is bit-identical whatever the batch size or the other rows; a bf16, fp16
// or mxfp4 matrix gives the bits of its fp32 widening (dequantization for
// mxfp4: linear_mxfp4.h; int8/int4 also quantize the input: linear_quant.h).
// n <= 16 streams the weights once (decode GEMV);
// n > 16 runs a register-blocked GEMM (prefill). Single-threaded; per-thread
// scratch only grows. Numerics, paths and measurements: docs/DESIGN.md §11.
#pragma once

#include <cstdint>

#include "sharding/dtype.h"

namespace meshlm {

// A weight matrix view: `rows` = out_features, `cols` = in_features. fp32,
// bf16 and fp16: `data` holds the rows. int8/int4 (model/ops/quant.h): `data`
// holds the rows' quantized values and `scales` their block scales. mxfp4
// (model/ops/mxfp4.h): `data` holds the rows' E2M1 codes and `exponents`
// their blocks' E8M0 exponents.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::f32;  // fp32, bf16, fp16, int8, int4, mxfp4
  int64_t rows = 0;
  int64_t cols = 0;
  const bf16* scales = nullptr;        // [rows][ceil(cols / 32)], int8/int4 only
  const uint8_t* exponents = nullptr;  // [rows][ceil(cols / 32)] E8M0, mxfp4 only
};

// y[n, rows] = x[n, cols] · Wᵀ, plus bias[rows] when given. When
// `accumulate` is true, adds into y instead of overwriting it. x, W and y
// must not overlap. Another dtype, a negative size or a null pointer where
// data is needed is a bug (MESHLM_CHECK).
void linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias = nullptr,
            bool accumulate = false);

}  // namespace meshlm

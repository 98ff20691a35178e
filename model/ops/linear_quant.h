// Internal to meshlm::ops: linear() for int8/int4 weights (model/ops/quant.h).
// The input rows are quantized per block of 32 like the weights (int8, scale
// amax / 127 in fp32) and every block's integer dot product is exact (AVX-512
// VNNI: 64 multiply-adds per instruction), then scaled by the weight's and the
// input's block scales and accumulated in fp32 in one fixed order: 16 lanes,
// lane l of chunk c (64 columns) holding 4 columns of one block, then the lane
// tree of linear_tile.h. The order depends on neither the batch nor the code
// path, so a row's result is the same bits whatever the other rows; the
// portable build runs quant_dot_reference, the specification. Numerics and
// measurements: docs/DESIGN.md §11.
#pragma once

#include <cstdint>

#include "model/ops/linear.h"
#include "model/ops/quant.h"

namespace meshlm::ops_detail {

// y[n, rows] (+)= x[n, cols] · Wᵀ (+ bias) for int8/int4 W.
void quant_linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
                  bool accumulate);

// The quantized matrix W views (int8, int4: data and scales; mxfp4: data and exponents).
QuantMatrix matrix_of(const WeightView& w);

// One output, x · W[row]ᵀ, computed by scalar code in exactly the order
// above (the tests check quant_linear against it bit for bit).
float quant_dot_reference(const float* x, const WeightView& w, int64_t row);

}  // namespace meshlm::ops_detail

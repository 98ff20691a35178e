// Internal to meshlm::ops: the prefill GEMM behind linear() for n > 16 input
// rows (AVX-512 builds). It computes every output in exactly the order of
// linear_tile.h — lane l of a dot product is the fma chain over columns
// k = l, l + 16, ... from +0, and the 16 lane sums meet in the same tree —
// but with a BLAS-style register-blocked kernel: one chain per (lane, output)
// runs for 32 weight rows x 12 input rows at once (weights as vectors,
// inputs broadcast) over operands packed lane by lane, so the results are
// bit-identical to the GEMV tiles while the FMA units stay busy. mxfp4
// weights (n > 32) take the same kernel with lane l's chain over the columns
// of linear_mxfp4.h's order instead of l, l + 16, ...
#pragma once

#include <cstdint>

#include "model/ops/linear.h"
#include "sharding/dtype.h"

namespace meshlm::ops_detail {

// True when this build has the kernel (else linear() uses the tiles for all n).
bool have_lane_gemm();

// y[n, rows] (+)= x[n, cols] · Wᵀ (+ bias), as linear().
template <class WT>
void lane_gemm(const float* x, int64_t n, const WT* w, int64_t rows, int64_t cols, float* y,
               const float* bias, bool accumulate);

// The same for mxfp4 weights (w.data and w.exponents), each panel decoded
// exactly to fp32 (linear_mxfp4.h): the bits of lane_gemm on the dequantized matrix.
void lane_gemm_mxfp4(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
                     bool accumulate);

}  // namespace meshlm::ops_detail

// Linear layers: y = x · Wᵀ (+ bias), W stored [out, in] row-major (DESIGN.md §4)
// in fp32 or bf16; x and y are fp32. The hot path of prefill (GEMM, n = many
// tokens) and decode (n = local batch, often 1: bandwidth-bound GEMV).
//
// Numerics (what holds, exactly):
//   - Every output element y[i][r] is the fp32 dot product of x row i and W
//     row r computed in ONE fixed order (16 fp32 lanes, fused multiply-adds
//     along the row, then a fixed lane tree; linear_tile.h specifies it),
//     then + bias[r], then + the old y[i][r] when accumulating.
//   - So y[i][r] depends only on (x row i, W row r, bias[r], old y[i][r]):
//     it is bit-identical whatever n is, whatever the other rows of the batch
//     are, decode or prefill, and run to run (deterministic). Batched decoding
//     therefore gives exactly the logits (and tokens) of single-sequence
//     decoding, and a prompt's prefill does not depend on its batch mates.
//   - bf16 weights are widened exactly (bits << 16) and multiplied with fp32
//     x, accumulating in fp32: the result equals linear() on the widened fp32
//     matrix, bit for bit. x is never rounded to bf16.
//   - The kernels are AVX-512 (built with -march=native on a CPU that has
//     it); other builds run a portable loop with the same order and bits.
//
// Performance (linear_tile.h, linear_gemm.h): for n <= 16 (decode) each weight
// row streams from memory once, for all n inputs, with the next rows
// prefetched (bandwidth bound: 85-100% of the single-core memory-read
// bandwidth at n = 1); for n > 16 (prefill) a register-blocked GEMM over
// packed operands (0.9-1.3x OpenBLAS sgemm at n = 64..256). Rows 64-byte
// aligned (DeviceMemory buffers, cols a multiple of 16) avoid split loads.
// Single-threaded (one rank = one core). Scratch is per thread and only grows: the first prefill
// allocates up to ~10 MiB (packed inputs and weights), the first decode call
// a few KiB; later calls of the same or smaller shapes allocate nothing.
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

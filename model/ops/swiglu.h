// SwiGLU gating of the Llama MLP: gate = silu(gate) * up (llama2.c order).
#pragma once

#include <cstdint>

namespace meshlm {

// gate [n], up [n]: gate[i] = gate[i] * sigmoid(gate[i]) * up[i].
void silu_mul(float* gate, const float* up, int64_t n);

// x[n] += y[n] (the residual connection).
void add_inplace(float* x, const float* y, int64_t n);

}  // namespace meshlm

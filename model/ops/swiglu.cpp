#include "model/ops/swiglu.h"

#include <cmath>

namespace meshlm {

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float val = gate[i];
    val *= (1.0f / (1.0f + expf(-val)));
    val *= up[i];
    gate[i] = val;
  }
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace meshlm

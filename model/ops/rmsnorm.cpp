#include "model/ops/rmsnorm.h"

#include <cmath>

#include "model/ops/typed.h"

namespace meshlm {

void rmsnorm(float* out, const float* x, const void* w, DType w_dtype, int64_t n, int64_t D,
             float eps) {
  with_storage_type(w_dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* wt = static_cast<const T*>(w);
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = x + r * D;
      float* o = out + r * D;
      float ss = 0.0f;
      for (int64_t j = 0; j < D; ++j) ss += xr[j] * xr[j];
      ss /= static_cast<float>(D);
      ss += eps;
      ss = 1.0f / sqrtf(ss);
      for (int64_t j = 0; j < D; ++j) o[j] = to_f32(wt[j]) * (ss * xr[j]);
    }
  });
}

}  // namespace meshlm

// linear(): dispatch on the weight dtype (see linear.h).
#include "model/ops/linear.h"

#include <cblas.h>

#include <vector>

#include "sharding/error.h"

namespace meshlm {

void linear(const float* x, int64_t n, const WeightView& w, float* y, const float* bias,
            bool accumulate) {
  MESHLM_CHECK(w.dtype == DType::f32 || w.dtype == DType::bf16,
               "linear: weight dtype must be f32 or bf16");
  if (n <= 0 || w.rows <= 0) return;
  const int64_t rows = w.rows, cols = w.cols;
  std::vector<float> wf;
  const float* wp = static_cast<const float*>(w.data);
  if (w.dtype == DType::bf16) {
    wf.resize(static_cast<size_t>(rows * cols));
    const bf16* src = static_cast<const bf16*>(w.data);
    for (int64_t i = 0; i < rows * cols; ++i) wf[i] = bf16_to_float(src[i]);
    wp = wf.data();
  }
  if (!accumulate) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < rows; ++r) y[i * rows + r] = bias ? bias[r] : 0.f;
  } else if (bias) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < rows; ++r) y[i * rows + r] += bias[r];
  }
  if (cols == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.f, x, cols, wp, cols, 1.f,
              y, rows);
}

}  // namespace meshlm

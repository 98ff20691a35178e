#include "model/ops/moe.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "sharding/error.h"

namespace meshlm {

namespace {

// Does expert a rank before expert b? Larger logit first, NaN last, the lower
// id first on ties.
bool ranks_before(const float* logits, int64_t a, int64_t b) {
  const float x = logits[a], y = logits[b];
  const bool x_nan = std::isnan(x), y_nan = std::isnan(y);
  if (x_nan != y_nan) return y_nan;
  if (!x_nan && x != y) return x > y;
  return a < b;
}

// The top k of the logits into ids, best first: insertion into the sorted
// prefix (k and E are small: 2 of 8, 4 of 32, ...).
void top_k(const float* logits, int64_t num_experts, int64_t k, int32_t* ids) {
  int64_t count = 0;
  for (int64_t e = 0; e < num_experts; ++e) {
    if (count == k && !ranks_before(logits, e, ids[k - 1])) continue;
    int64_t at = count < k ? count++ : k - 1;
    for (; at > 0 && ranks_before(logits, e, ids[at - 1]); --at) ids[at] = ids[at - 1];
    ids[at] = static_cast<int32_t>(e);
  }
}

}  // namespace

void route(const float* logits, int64_t num_experts, int64_t k, RouterKind kind, int32_t* ids,
           float* weights) {
  MESHLM_CHECK(num_experts >= 1 && num_experts <= INT32_MAX,
               "router over " << num_experts << " experts");
  MESHLM_CHECK(k >= 1 && k <= num_experts,
               "router picks " << k << " of " << num_experts << " experts");
  top_k(logits, num_experts, k, ids);
  if (kind == RouterKind::softmax_topk) {
    // p = softmax over all E (max-subtracted, fp32), then the k renormalised.
    float max_val = logits[0];
    for (int64_t e = 1; e < num_experts; ++e) max_val = std::max(max_val, logits[e]);
    float sum = 0.0f;
    for (int64_t e = 0; e < num_experts; ++e) sum += expf(logits[e] - max_val);
    float kept = 0.0f;
    for (int64_t i = 0; i < k; ++i) {
      weights[i] = expf(logits[ids[i]] - max_val) / sum;
      kept += weights[i];
    }
    for (int64_t i = 0; i < k; ++i) weights[i] /= kept;
  } else {
    // softmax over the k chosen (ids[0] holds the largest).
    const float max_val = logits[ids[0]];
    float sum = 0.0f;
    for (int64_t i = 0; i < k; ++i) sum += (weights[i] = expf(logits[ids[i]] - max_val));
    for (int64_t i = 0; i < k; ++i) weights[i] /= sum;
  }
}

void gpt_oss_glu(const float* z, int64_t n, int64_t inter, float limit, float* h) {
  MESHLM_CHECK(limit > 0, "swiglu limit " << limit << " (expected > 0)");
  const auto z0 = reinterpret_cast<uintptr_t>(z), h0 = reinterpret_cast<uintptr_t>(h);
  const auto z_bytes = static_cast<uintptr_t>(n * 2 * inter) * sizeof(float);
  const auto h_bytes = static_cast<uintptr_t>(n * inter) * sizeof(float);
  MESHLM_CHECK(h0 + h_bytes <= z0 || z0 + z_bytes <= h0, "gpt_oss_glu: h overlaps z");
  constexpr float alpha = 1.702f;
  for (int64_t r = 0; r < n; ++r) {
    const float* zr = z + r * 2 * inter;
    float* hr = h + r * inter;
    for (int64_t i = 0; i < inter; ++i) {
      const float g = std::min(zr[2 * i], limit);
      const float u = std::clamp(zr[2 * i + 1], -limit, limit);
      const float glu = g * (1.0f / (1.0f + expf(-(g * alpha))));
      hr[i] = (u + 1.0f) * glu;
    }
  }
}

}  // namespace meshlm

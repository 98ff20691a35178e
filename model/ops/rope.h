// Rotary position embeddings in the Hugging Face rotate-half layout: inside
// each head of hd values, element j pairs with j + hd/2 (j < hd/2). llama2.c
// checkpoints are permuted into this layout by the loader (docs/DESIGN.md §5).
// Frequencies follow the llama2.c reference bit for bit:
//   freq_j = 1.0f / powf(theta, (2j) / (float)hd),  angle = pos * freq_j,
// with rope_scaling "linear" (freq / factor) and "llama3" (HF's
// _compute_llama3_parameters) applied to freq_j. "yarn" (HF's
// _compute_yarn_parameters, computed in double and rounded once) blends
// freq_j and freq_j / factor along a ramp over j, and scales cos and sin by
// its attention factor, so the rotated q and k come out multiplied by it;
// every other type has attention factor 1 and rotates as before.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/model_config.h"

namespace meshlm {

class Rope {
 public:
  // Throws meshlm::Error for a rope_scaling type the runtime does not implement.
  explicit Rope(const ModelConfig& config);

  int64_t head_dim() const { return head_dim_; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }  // [hd/2]
  // The factor on cos and sin: yarn's, else 1.
  float attention_factor() const { return attention_factor_; }

  // Rotates q [q_heads, hd] and k [k_heads, hd] (one token) for position pos
  // (and scales them by attention_factor()).
  void apply(float* q, int64_t q_heads, float* k, int64_t k_heads, int64_t pos) const;

  static constexpr int64_t kMaxHeadDim = 1024;

 private:
  int64_t head_dim_;
  std::vector<float> inv_freq_;  // [hd/2], fixed at construction (no allocation per step)
  float attention_factor_ = 1.0f;
};

}  // namespace meshlm

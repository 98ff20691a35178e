// Rotary position embeddings in the Hugging Face rotate-half layout: inside
// each head of hd values, element j pairs with j + hd/2 (j < hd/2). llama2.c
// checkpoints are permuted into this layout by the loader (docs/DESIGN.md §5).
// Frequencies follow the llama2.c reference bit for bit:
//   freq_j = 1.0f / powf(theta, (2j) / (float)hd),  angle = pos * freq_j,
// with rope_scaling "linear" (freq / factor) and "llama3" (HF's
// _compute_llama3_parameters) applied to freq_j.
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

  // Rotates q [q_heads, hd] and k [k_heads, hd] (one token) for position pos.
  void apply(float* q, int64_t q_heads, float* k, int64_t k_heads, int64_t pos) const;

  static constexpr int64_t kMaxHeadDim = 1024;

 private:
  int64_t head_dim_;
  std::vector<float> inv_freq_;  // [hd/2], fixed at construction (no allocation per step)
};

}  // namespace meshlm

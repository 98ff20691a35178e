#include "model/ops/rope.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "sharding/error.h"

namespace meshlm {

namespace {

// HF transformers' _compute_llama3_parameters, in float like torch.
void apply_llama3_scaling(std::vector<float>& inv_freq, const RopeScaling& s) {
  const float factor = static_cast<float>(s.factor);
  const float low = static_cast<float>(s.low_freq_factor);
  const float high = static_cast<float>(s.high_freq_factor);
  const float old_len = static_cast<float>(s.original_max_position_embeddings);
  const float low_wavelen = old_len / low, high_wavelen = old_len / high;
  const float pi = 3.14159265358979323846f;
  for (float& f : inv_freq) {
    const float wavelen = 2.0f * pi / f;
    float scaled = wavelen > low_wavelen ? f / factor : f;
    const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
    if (medium) {
      const float smooth = (old_len / wavelen - low) / (high - low);
      scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
    }
    f = scaled;
  }
}

// HF transformers' _compute_yarn_parameters (partial_rotary_factor 1), in
// double; returns the attention factor.
float apply_yarn_scaling(std::vector<float>& inv_freq, const RopeScaling& s, double theta,
                         int64_t hd) {
  const double pi = 3.14159265358979323846;
  const double orig = static_cast<double>(s.original_max_position_embeddings);
  // The pair index whose frequency turns `rotations` times over orig positions.
  auto correction_dim = [&](double rotations) {
    return static_cast<double>(hd) * std::log(orig / (rotations * 2 * pi)) / (2 * std::log(theta));
  };
  double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(hd - 1));
  if (low == high) high += 0.001;
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double pos_freq = std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(hd));
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    inv_freq[i] = static_cast<float>(ramp / (s.factor * pos_freq) + (1 - ramp) / pos_freq);
  }
  if (s.attention_factor != 0) return static_cast<float>(s.attention_factor);
  return s.factor > 1 ? static_cast<float>(0.1 * std::log(s.factor) + 1) : 1.0f;
}

}  // namespace

Rope::Rope(const ModelConfig& c) : head_dim_(c.head_dim) {
  if (head_dim_ < 2 || head_dim_ % 2 != 0 || head_dim_ > kMaxHeadDim)
    MESHLM_FAIL("RoPE needs an even head_dim between 2 and " << kMaxHeadDim << " (model " << c.name
                                                             << " has " << head_dim_ << ")");
  const float theta = static_cast<float>(c.rope_theta);
  inv_freq_.resize(static_cast<size_t>(head_dim_ / 2));
  for (int64_t j = 0; j < head_dim_ / 2; ++j)
    inv_freq_[j] = 1.0f / powf(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim_));
  const RopeScaling& s = c.rope_scaling;
  if (s.type.empty() || s.type == "default") {
  } else if (s.type == "linear") {
    for (float& f : inv_freq_) f /= static_cast<float>(s.factor);
  } else if (s.type == "llama3") {
    if (s.original_max_position_embeddings < 1 || s.high_freq_factor <= s.low_freq_factor)
      MESHLM_FAIL("rope_scaling llama3 of model " << c.name
                                                  << " needs original_max_position_embeddings "
                                                     ">= 1 and high_freq_factor > "
                                                     "low_freq_factor");
    apply_llama3_scaling(inv_freq_, s);
  } else if (s.type == "yarn") {
    if (s.original_max_position_embeddings < 1 || !(s.factor > 0) || !(s.beta_slow > 0) ||
        !(s.beta_fast > s.beta_slow) || s.attention_factor < 0 || !(c.rope_theta > 1))
      MESHLM_FAIL("rope_scaling yarn of model "
                  << c.name << " needs rope_theta > 1 (has " << c.rope_theta
                  << "), original_max_position_embeddings >= 1 (has "
                  << s.original_max_position_embeddings << "), factor > 0 (has " << s.factor
                  << "), beta_fast > beta_slow > 0 (has " << s.beta_fast << " and " << s.beta_slow
                  << ") and attention_factor >= 0 (has " << s.attention_factor << ")");
    attention_factor_ = apply_yarn_scaling(inv_freq_, s, c.rope_theta, head_dim_);
  } else {
    MESHLM_FAIL("rope_scaling type '" << s.type << "' of model " << c.name
                                      << " is not supported by the runtime (supported: none, "
                                         "linear, llama3, yarn)");
  }
}

void Rope::apply(float* q, int64_t q_heads, float* k, int64_t k_heads, int64_t pos) const {
  const int64_t half = head_dim_ / 2;
  std::array<float, kMaxHeadDim / 2> cs, sn;
  for (int64_t j = 0; j < half; ++j) {
    const float val = static_cast<float>(pos) * inv_freq_[j];
    cs[j] = cosf(val);
    sn[j] = sinf(val);
  }
  if (attention_factor_ != 1.0f)
    for (int64_t j = 0; j < half; ++j) {
      cs[j] *= attention_factor_;
      sn[j] *= attention_factor_;
    }
  auto rotate = [&](float* x, int64_t heads) {
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + h * head_dim_;
      for (int64_t j = 0; j < half; ++j) {
        const float v0 = v[j], v1 = v[j + half];
        v[j] = v0 * cs[j] - v1 * sn[j];
        v[j + half] = v0 * sn[j] + v1 * cs[j];
      }
    }
  };
  rotate(q, q_heads);
  rotate(k, k_heads);
}

}  // namespace meshlm

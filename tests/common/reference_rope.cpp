// Rotary position embeddings of the reference forward pass: rotate-half
// (HF apply_rotary_pos_emb; gpt-oss _apply_rotary_emb) with the inverse
// frequencies of HF modeling_rope_utils: default, linear, llama3
// (_compute_llama3_parameters) and yarn (_compute_yarn_parameters; the same
// as gpt-oss RotaryEmbedding._compute_concentration_and_inv_freq).
#include <algorithm>
#include <cmath>

#include "common/reference_model.h"
#include "sharding/error.h"

namespace meshlm::test::reference {

namespace {

constexpr double kPi = 3.14159265358979323846;

void llama3(const RopeScaling& s, Vec& inv_freq) {
  if (s.original_max_position_embeddings < 1 || s.high_freq_factor <= s.low_freq_factor)
    MESHLM_FAIL(
        "reference forward: rope_scaling llama3 needs original_max_position_embeddings"
        " >= 1 and high_freq_factor > low_freq_factor");
  const double old_len = static_cast<double>(s.original_max_position_embeddings);
  const double low_wavelen = old_len / s.low_freq_factor;
  const double high_wavelen = old_len / s.high_freq_factor;
  for (double& f : inv_freq) {
    const double wavelen = 2 * kPi / f;
    if (wavelen < high_wavelen) continue;  // high frequencies: unchanged
    if (wavelen > low_wavelen) {           // low frequencies: divided by factor
      f /= s.factor;
    } else {  // in between: interpolated
      const double smooth =
          (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = (1 - smooth) * f / s.factor + smooth * f;
    }
  }
}

// Dimension index whose wavelength makes `rotations` turns over `max_pos`.
double correction_dim(double rotations, double hd, double theta, double max_pos) {
  return hd * std::log(max_pos / (rotations * 2 * kPi)) / (2 * std::log(theta));
}

void yarn(const ModelConfig& c, Vec& inv_freq, double& scale) {
  const RopeScaling& s = c.rope_scaling;
  const double hd = static_cast<double>(c.head_dim);
  const double max_pos = static_cast<double>(s.original_max_position_embeddings > 0
                                                 ? s.original_max_position_embeddings
                                                 : c.max_position_embeddings);
  double low = correction_dim(s.beta_fast, hd, c.rope_theta, max_pos);
  double high = correction_dim(s.beta_slow, hd, c.rope_theta, max_pos);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, hd - 1);
  if (low == high) high += 0.001;
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double pos_freq = std::pow(c.rope_theta, static_cast<double>(2 * i) / hd);
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    inv_freq[i] = ramp / (s.factor * pos_freq) + (1 - ramp) / pos_freq;
  }
  // attention_factor when the config gives one, else HF's get_mscale(factor).
  scale = s.attention_factor > 0 ? s.attention_factor
          : s.factor <= 1        ? 1.0
                                 : 0.1 * std::log(s.factor) + 1.0;
}

}  // namespace

RopeTable rope_table(const ModelConfig& c) {
  const int64_t hd = c.head_dim;
  if (hd < 2 || hd % 2 != 0)
    MESHLM_FAIL("reference forward: RoPE needs an even head_dim, not " << hd);
  RopeTable r;
  for (int64_t j = 0; j < hd / 2; ++j)
    r.inv_freq.push_back(
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * j) / static_cast<double>(hd)));
  const std::string& type = c.rope_scaling.type;
  if (type.empty() || type == "default") {
  } else if (type == "linear") {
    for (double& f : r.inv_freq) f /= c.rope_scaling.factor;
  } else if (type == "llama3") {
    llama3(c.rope_scaling, r.inv_freq);
  } else if (type == "yarn") {
    yarn(c, r.inv_freq, r.scale);
  } else {
    MESHLM_FAIL("reference forward: rope_scaling type '"
                << type << "' is not implemented (none, linear, llama3, yarn)");
  }
  return r;
}

void apply_rope(const RopeTable& rope, int64_t pos, double* x) {
  const size_t half = rope.inv_freq.size();
  for (size_t j = 0; j < half; ++j) {
    const double angle = static_cast<double>(pos) * rope.inv_freq[j];
    const double cos = std::cos(angle) * rope.scale, sin = std::sin(angle) * rope.scale;
    const double x1 = x[j], x2 = x[j + half];
    x[j] = x1 * cos - x2 * sin;
    x[j + half] = x2 * cos + x1 * sin;
  }
}

}  // namespace meshlm::test::reference

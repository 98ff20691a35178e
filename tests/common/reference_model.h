// Internals of the reference forward pass (common/reference_forward.h): the
// weights read once through the Checkpoint, and the pieces of a layer. All
// activations are double: Rows is [positions][features].
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "arch/tensor_roles.h"
#include "model/io/checkpoint.h"

namespace meshlm::test::reference {

using Vec = std::vector<double>;
using Rows = std::vector<Vec>;

// The model's tensors as fp32, each read whole with read_tensor_f32 the first
// time it is asked for and kept.
class Weights {
 public:
  explicit Weights(const Checkpoint& ckpt) : ckpt_(ckpt), config_(ckpt.config()) {}
  const ModelConfig& config() const { return config_; }
  // The tensor of `role` (in `layer`; -1 for the model's own) by its name in
  // the role table; throws naming it when its shape is not `shape`.
  const float* get(TensorRole role, int64_t layer, const Shape& shape);

 private:
  const Checkpoint& ckpt_;
  const ModelConfig config_;
  std::map<std::string, std::vector<float>> tensors_;
};

// y = W x + (b when non-null): W row-major [rows, cols], double sums.
Vec linear(const float* w, const float* b, int64_t rows, int64_t cols, const Vec& x);
double silu(double x);

// RoPE of one head vector (rotate-half: element j pairs with j + hd/2).
struct RopeTable {
  Vec inv_freq;        // [hd/2], after rope_scaling
  double scale = 1.0;  // multiplies cos and sin (yarn's attention factor)
};
RopeTable rope_table(const ModelConfig& c);
void apply_rope(const RopeTable& rope, int64_t pos, double* x);

// One layer's attention output (after o_proj) for the normalised inputs h.
Rows attention(Weights& w, int64_t layer, const Rows& h);
// One layer's MLP output (dense, mixtral or gpt_oss experts) for h.
Rows feed_forward(Weights& w, int64_t layer, const Rows& h);

}  // namespace meshlm::test::reference

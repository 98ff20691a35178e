// A checkpoint whose tensors of some roles are multiplied by a factor (fp32
// reads): drives activations into ranges random weights do not reach, e.g.
// gpt_oss's SwiGLU clamp at ±7.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/io/checkpoint.h"
#include "sharding/error.h"

namespace meshlm::test {

class ScaledCheckpoint : public Checkpoint {
 public:
  ScaledCheckpoint(std::unique_ptr<Checkpoint> base, std::map<TensorRole, double> scales)
      : base_(std::move(base)), scales_(std::move(scales)) {}

  const ModelConfig& config() const override { return base_->config(); }
  std::string describe() const override { return base_->describe() + ", scaled"; }
  std::vector<std::string> tensor_names() const override { return base_->tensor_names(); }
  bool has(const std::string& name) const override { return base_->has(name); }
  Shape shape(const std::string& name) const override { return base_->shape(name); }
  DType stored_dtype(const std::string& name) const override { return base_->stored_dtype(name); }
  void read_block(const std::string& name, const Shape& offset, const Shape& block, DType dst_dtype,
                  void* dst) const override {
    base_->read_block(name, offset, block, dst_dtype, dst);
    const auto t = find_tensor(config(), name);
    const auto it = t ? scales_.find(t->role) : scales_.end();
    if (it == scales_.end()) return;
    MESHLM_CHECK(dst_dtype == DType::f32, "ScaledCheckpoint scales fp32 reads of " << name);
    int64_t n = 1;
    for (const int64_t b : block) n *= b;
    float* v = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(v[i] * it->second);
  }

 private:
  std::unique_ptr<Checkpoint> base_;
  std::map<TensorRole, double> scales_;
};

}  // namespace meshlm::test

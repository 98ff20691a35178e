// Synthetic checkpoints: every element is a pure function of (seed, tensor
// name, flat index) through a counter-based hash (splitmix64), so any block
// of any mesh reads the same model without a file.
#include <cmath>
#include <map>

#include "model/io/block_copy.h"
#include "model/io/checkpoint.h"
#include "sharding/error.h"
#include "sharding/hash.h"
#include "sharding/units.h"

namespace meshlm {

namespace {

// Element i of a tensor is center + scale * (2u - 1), u uniform in [0, 1).
struct SyntheticTensor {
  Shape shape;
  uint64_t key = 0;
  float center = 0;
  float scale = 0;
};

// Magnitudes that keep a forward pass sane: linear weights uniform in
// ±1/sqrt(in_features) (activations keep their scale), embeddings in ±1,
// norms in 1 ± 0.1, biases in ±0.1, attention sinks in ±1.
SyntheticTensor make_tensor(const TensorInfo& info, uint64_t seed) {
  SyntheticTensor t;
  t.shape = info.shape;
  t.key = mix64(fnv1a64(info.name) ^ splitmix64(seed));
  switch (role_info(info.role).kind) {
    case TensorKind::bias:
      t.scale = 0.1f;
      break;
    case TensorKind::norm:
      t.center = 1.0f;
      t.scale = 0.1f;
      break;
    case TensorKind::sinks:
    case TensorKind::embedding:
      t.scale = 1.0f;
      break;
    case TensorKind::matrix: {
      // [out, in] for 2-D weights; fused experts [E, in, out] (gpt_oss).
      const int64_t in = info.shape.size() == 3 ? info.shape[1] : info.shape.back();
      t.scale = 1.0f / std::sqrt(static_cast<float>(in > 0 ? in : 1));
      break;
    }
  }
  return t;
}

void generate(const SyntheticTensor& t, int64_t first, float* out, int64_t n) {
  const uint64_t key = t.key;
  const float center = t.center, scale2 = 2.0f * t.scale, scale = t.scale;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t z = mix64(key + static_cast<uint64_t>(first + i + 1) * kGoldenGamma);
    const float u = static_cast<float>(static_cast<int32_t>(z >> 40)) * 0x1p-24f;
    out[i] = center + (scale2 * u - scale);
  }
}

class SyntheticCheckpoint : public Checkpoint {
 public:
  SyntheticCheckpoint(const ModelConfig& config, uint64_t seed) : config_(config), seed_(seed) {
    for (const TensorInfo& info : tensor_inventory(config)) {
      order_.push_back(info.name);
      tensors_.emplace(info.name, make_tensor(info, seed));
    }
  }

  const ModelConfig& config() const override { return config_; }
  std::string describe() const override {
    return "synthetic checkpoint of " + (config_.name.empty() ? config_.model_type : config_.name) +
           " (seed " + std::to_string(seed_) + ", " + format_count(parameter_count(config_)) +
           " parameters)";
  }
  std::vector<std::string> tensor_names() const override { return order_; }
  bool has(const std::string& name) const override { return tensors_.count(name) > 0; }
  Shape shape(const std::string& name) const override { return find(name).shape; }
  DType stored_dtype(const std::string& name) const override {
    find(name);
    return DType::f32;
  }

  void read_block(const std::string& name, const Shape& offset, const Shape& block, DType dst_dtype,
                  void* dst) const override {
    const SyntheticTensor& t = find(name);
    check_block(name, t.shape, offset, block, dst_dtype);
    for_each_block_run(t.shape, offset, block, false, [&](int64_t src, int64_t d, int64_t n) {
      if (dst_dtype == DType::f32) return generate(t, src, static_cast<float*>(dst) + d, n);
      constexpr int64_t kChunk = 1024;
      alignas(64) float tmp[kChunk];
      auto* out = static_cast<uint16_t*>(dst) + d;
      for (int64_t i = 0; i < n; i += kChunk) {
        const int64_t m = std::min(kChunk, n - i);
        generate(t, src + i, tmp, m);
        convert_elements(reinterpret_cast<const std::byte*>(tmp), DType::f32, out + i, dst_dtype,
                         m);
      }
    });
  }

 private:
  const SyntheticTensor& find(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) MESHLM_FAIL("tensor '" << name << "' is not in " << describe());
    return it->second;
  }

  ModelConfig config_;
  uint64_t seed_;
  std::vector<std::string> order_;
  std::map<std::string, SyntheticTensor> tensors_;
};

}  // namespace

std::unique_ptr<Checkpoint> synthetic_checkpoint(const ModelConfig& config, uint64_t seed) {
  return std::make_unique<SyntheticCheckpoint>(config, seed);
}

}  // namespace meshlm

// Synthetic checkpoints: deterministic per (seed, tensor, element), so any
// block equals the slice of the full tensor; values with the intended scales.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/io/checkpoint.h"
#include "test_io_util.h"

namespace meshlm {
namespace {

using test::small_config;

struct Stats {
  double mean = 0, rms = 0, min = 1e30, max = -1e30;
};
Stats stats(const std::vector<float>& v) {
  Stats s;
  for (float x : v) {
    s.mean += x;
    s.rms += double(x) * x;
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
  }
  s.mean /= v.size();
  s.rms = std::sqrt(s.rms / v.size());
  return s;
}

// Families beyond Llama: biases, MoE routers and experts (gpt_oss: fused
// [E, in, out] experts, sinks).
std::vector<ModelConfig> family_configs() {
  return {small_config({{"model_type", "qwen2"}, {"num_hidden_layers", 1}}),
          small_config(
              {{"model_type", "mixtral"}, {"num_local_experts", 4}, {"num_experts_per_tok", 2}}),
          small_config({{"model_type", "gpt_oss"},
                        {"num_local_experts", 4},
                        {"experts_per_token", 2},
                        {"head_dim", 16},
                        {"sliding_window", 8}})};
}

TEST(SyntheticCheckpoint, CoversTheInventory) {
  for (const ModelConfig& c : family_configs()) {
    const auto ckpt = synthetic_checkpoint(c, 1);
    for (const TensorInfo& t : tensor_inventory(c)) {
      ASSERT_TRUE(ckpt->has(t.name)) << t.name;
      EXPECT_EQ(ckpt->shape(t.name), t.shape);
    }
  }
  const ModelConfig c = small_config({{"model_type", "qwen2"}, {"tie_word_embeddings", true}});
  const auto ckpt = synthetic_checkpoint(c, 1);
  const auto inventory = tensor_inventory(c);
  ASSERT_EQ(ckpt->tensor_names().size(), inventory.size());
  for (const TensorInfo& t : inventory) {
    ASSERT_TRUE(ckpt->has(t.name)) << t.name;
    EXPECT_EQ(ckpt->shape(t.name), t.shape);
  }
  EXPECT_TRUE(ckpt->has("model.layers.1.self_attn.k_proj.bias"));
  EXPECT_FALSE(ckpt->has("lm_head.weight"));
  EXPECT_NE(ckpt->describe().find("seed 1"), std::string::npos);
}

TEST(SyntheticCheckpoint, BlocksEqualSlicesOfTheFullTensor) {
  const auto ckpt = synthetic_checkpoint(small_config(), 7);
  std::mt19937_64 rng(3);
  for (const std::string& name : ckpt->tensor_names()) {
    const Shape shape = ckpt->shape(name);
    const std::vector<float> full = read_tensor_f32(*ckpt, name);
    for (int trial = 0; trial < 5; ++trial) {
      Shape offset(shape.size()), block(shape.size());
      for (size_t d = 0; d < shape.size(); ++d) {
        offset[d] = std::uniform_int_distribution<int64_t>(0, shape[d] - 1)(rng);
        block[d] = std::uniform_int_distribution<int64_t>(1, shape[d] - offset[d])(rng);
      }
      const int64_t n = num_elements(block);
      std::vector<float> got(n);
      std::vector<uint16_t> got16(n);
      ckpt->read_block(name, offset, block, DType::f32, got.data());
      ckpt->read_block(name, offset, block, DType::bf16, got16.data());
      const int64_t cols = shape.size() == 2 ? shape[1] : 1,
                    bcols = shape.size() == 2 ? block[1] : 1;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = offset[0] + i / bcols,
                      c = (shape.size() == 2 ? offset[1] : 0) + i % bcols;
        ASSERT_EQ(got[i], full[r * cols + c]) << name << " element " << i;
        ASSERT_EQ(got16[i], float_to_bf16(full[r * cols + c]).bits) << name;
      }
    }
  }
}

TEST(SyntheticCheckpoint, SeedDecidesTheValues) {
  const ModelConfig c = small_config();
  const auto a = synthetic_checkpoint(c, 5), b = synthetic_checkpoint(c, 5),
             other = synthetic_checkpoint(c, 6);
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  EXPECT_EQ(read_tensor_f32(*a, q), read_tensor_f32(*b, q));
  const std::vector<float> x = read_tensor_f32(*a, q), y = read_tensor_f32(*other, q);
  int same = 0;
  for (size_t i = 0; i < x.size(); ++i) same += x[i] == y[i];
  EXPECT_LT(same, 5);
  // Different tensors of the same shape differ too.
  const std::vector<float> o = read_tensor_f32(*a, "model.layers.0.self_attn.o_proj.weight");
  same = 0;
  for (size_t i = 0; i < x.size(); ++i) same += x[i] == o[i];
  EXPECT_LT(same, 5);
}

// Linear weights uniform in ±1/sqrt(in) (RMS 1/sqrt(3 in)), embeddings in ±1,
// norms in 1 ± 0.1, biases in ±0.1.
TEST(SyntheticCheckpoint, ValuesHaveTheIntendedScales) {
  for (const ModelConfig& c : family_configs()) {
    const auto ckpt = synthetic_checkpoint(c, 11);
    for (const std::string& name : ckpt->tensor_names()) {
      const Shape shape = ckpt->shape(name);
      const Stats s = stats(read_tensor_f32(*ckpt, name));
      double center = 0, half = 0;
      if (name.ends_with("bias")) {
        half = 0.1;
      } else if (name.find("norm") != std::string::npos) {
        center = 1, half = 0.1;
      } else if (name.find("embed") != std::string::npos || name.ends_with("sinks")) {
        half = 1;
      } else {
        half = 1 / std::sqrt(double(shape[1]));
      }
      const int64_t n = num_elements(shape);
      const double sd = half / std::sqrt(3.0);
      EXPECT_NEAR(s.mean, center, 5 * sd / std::sqrt(double(n))) << name;
      EXPECT_NEAR(std::sqrt(s.rms * s.rms - s.mean * s.mean), sd,
                  0.15 * sd + 5 * sd / std::sqrt(double(n)))
          << name;
      EXPECT_GE(s.min, center - half - 1e-6) << name;
      EXPECT_LE(s.max, center + half + 1e-6) << name;
      if (n >= 200) {  // spans the range
        EXPECT_LT(s.min, center - 0.9 * half) << name;
        EXPECT_GT(s.max, center + 0.9 * half) << name;
      }
    }
  }
}

// A forward step stays in range: a unit-RMS input through every linear weight
// gives outputs of RMS about 1/sqrt(3), never blowing up or vanishing.
TEST(SyntheticCheckpoint, LinearLayersKeepActivationsInScale) {
  const ModelConfig c = small_config();
  const auto ckpt = synthetic_checkpoint(c, 2);
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  for (const std::string& name : ckpt->tensor_names()) {
    const Shape shape = ckpt->shape(name);
    if (shape.size() != 2 || name.find("embed") != std::string::npos) continue;
    const std::vector<float> w = read_tensor_f32(*ckpt, name);
    double out_sq = 0;
    const int trials = 20;
    for (int t = 0; t < trials; ++t) {
      std::vector<float> x(shape[1]);
      double sq = 0;
      for (float& v : x) {
        v = normal(rng);
        sq += v * v;
      }
      for (float& v : x) v /= std::sqrt(sq / x.size());
      for (int64_t r = 0; r < shape[0]; ++r) {
        double y = 0;
        for (int64_t k = 0; k < shape[1]; ++k) y += w[r * shape[1] + k] * x[k];
        out_sq += y * y;
      }
    }
    const double rms = std::sqrt(out_sq / (trials * shape[0]));
    EXPECT_GT(rms, 0.45) << name;
    EXPECT_LT(rms, 0.7) << name;
  }
}

}  // namespace
}  // namespace meshlm

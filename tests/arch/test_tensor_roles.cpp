// The tensor-role table: every row well formed, names unique, and each role's
// regex (the default rules) matching its own tensors and no other role's, on
// every shipped model.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "arch/tensor_roles.h"
#include "sharding/device_spec.h"

namespace fs = std::filesystem;
using namespace meshlm;

namespace {

std::vector<ModelConfig> shipped_models() {
  std::vector<ModelConfig> out;
  for (auto& e : fs::directory_iterator(fs::path(config_dir()) / "models"))
    if (e.path().extension() == ".json") out.push_back(ModelConfig::load(e.path().string()));
  return out;
}

TEST(TensorRoles, OneRowPerRoleInEnumOrderWithUniqueNames) {
  std::set<std::string> names;
  ASSERT_EQ(tensor_roles().size(), kTensorRoleCount);
  for (size_t i = 0; i < kTensorRoleCount; ++i) {
    const auto role = static_cast<TensorRole>(i);
    EXPECT_EQ(role_info(role).role, role);
    EXPECT_TRUE(names.insert(role_info(role).name).second) << role_info(role).name;
    EXPECT_FALSE(role_info(role).dims.empty()) << role_name(role);
  }
}

TEST(TensorRoles, NamesAndPatterns) {
  EXPECT_EQ(tensor_name(TensorRole::q, 3), "model.layers.3.self_attn.q_proj.weight");
  EXPECT_EQ(tensor_name(TensorRole::moe_w2, 1), "model.layers.1.block_sparse_moe.experts.w2");
  EXPECT_EQ(tensor_name(TensorRole::embed), "model.embed_tokens.weight");
  EXPECT_EQ(role_pattern(TensorRole::q), "model\\.layers\\.\\d+\\.self_attn\\.q_proj\\.weight");
  EXPECT_EQ(role_wildcard_name(TensorRole::moe_w1), "model.layers.*.block_sparse_moe.experts.w1");
}

TEST(TensorRoles, EachPatternMatchesItsOwnTensorsOnlyOnEveryShippedModel) {
  std::vector<std::pair<TensorRole, std::regex>> patterns;
  for (auto& r : tensor_roles()) patterns.emplace_back(r.role, std::regex(role_pattern(r.role)));
  const auto models = shipped_models();
  ASSERT_GE(models.size(), 10u);
  for (const ModelConfig& c : models) {
    for (const TensorInfo& t : tensor_inventory(c)) {
      for (auto& [role, re] : patterns)
        EXPECT_EQ(std::regex_match(t.name, re), role == t.role)
            << c.name << ": " << t.name << " against the pattern of " << role_name(role);
      EXPECT_EQ(t.shape, role_shape(role_info(t.role), c)) << t.name;
      EXPECT_EQ(tensor_name(t.role, t.layer), t.name);
    }
  }
}

TEST(TensorRoles, FindTensorKnowsRoleAndLayer) {
  const ModelConfig mix = ModelConfig::load("mixtral-8x7b-v0.1");
  const auto t = find_tensor(mix, "model.layers.31.block_sparse_moe.experts.w3");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->role, TensorRole::moe_w3);
  EXPECT_EQ(t->layer, 31);
  EXPECT_EQ(t->shape, (Shape{8, 14336, 4096}));
  // Per-expert file tensors are not logical tensors.
  EXPECT_FALSE(find_tensor(mix, "model.layers.31.block_sparse_moe.experts.5.w3.weight"));
  EXPECT_FALSE(find_tensor(mix, "model.layers.0.mlp.gate_proj.weight").has_value());
  EXPECT_FALSE(find_tensor(mix, "model.layers.32.input_layernorm.weight").has_value());
}

// How the Hugging Face files hold each logical tensor.
TEST(TensorRoles, FileTensors) {
  const ModelConfig mix = ModelConfig::load("mixtral-8x7b-v0.1");
  const auto w2 =
      file_tensors(*find_tensor(mix, "model.layers.2.block_sparse_moe.experts.w2"), false);
  ASSERT_EQ(w2.size(), 8u);
  EXPECT_EQ(w2[5].name, "model.layers.2.block_sparse_moe.experts.5.w2.weight");
  EXPECT_EQ(w2[5].shape, (Shape{4096, 14336}));
  EXPECT_EQ(w2[5].part, FileTensor::one_expert);
  EXPECT_EQ(w2[5].expert, 5);

  const ModelConfig oss = ModelConfig::load("gpt-oss-20b");
  const TensorInfo gu = *find_tensor(oss, "model.layers.0.mlp.experts.gate_up_proj");
  const auto bf16 = file_tensors(gu, false);
  ASSERT_EQ(bf16.size(), 1u);
  EXPECT_EQ(bf16[0].shape, (Shape{32, 2880, 5760}));  // [E, in, out] in the BF16 files
  EXPECT_EQ(bf16[0].part, FileTensor::transposed);
  const auto mx = file_tensors(gu, true);
  ASSERT_EQ(mx.size(), 2u);
  EXPECT_EQ(mx[0].name, "model.layers.0.mlp.experts.gate_up_proj_blocks");
  EXPECT_EQ(mx[0].shape, (Shape{32, 5760, 90, 16}));
  EXPECT_EQ(mx[1].name, "model.layers.0.mlp.experts.gate_up_proj_scales");
  EXPECT_EQ(mx[1].shape, (Shape{32, 5760, 90}));
  // Biases and the router stay as they are, in either layout.
  const TensorInfo b = *find_tensor(oss, "model.layers.0.mlp.experts.gate_up_proj_bias");
  EXPECT_EQ(file_tensors(b, true)[0].part, FileTensor::whole);
  EXPECT_EQ(file_tensors(b, true)[0].shape, (Shape{32, 5760}));
}

}  // namespace

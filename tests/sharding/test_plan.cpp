// Plan files: JSON round trip, spec resolution, and validation errors that
// name the tensor, the dimension and the axis.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_util.h"
#include "sharding/plan.h"

namespace fs = std::filesystem;
using namespace meshlm;
using meshlm::test::error_of;

namespace {

// A hand-made plan for a small llama (D 64, I 172, H 8, K 4, V 512) on 2x2.
Plan small_plan() {
  Plan p;
  p.model_name = "tiny";
  p.model_config = test::small_llama_json();
  p.mesh = AbstractMesh::parse("2x2");
  p.rules.add("model\\.layers\\.\\d+\\.self_attn\\.[qkv]_proj\\.weight",
              PartitionSpec::of({"mp", ""}));
  p.rules.add("model\\.layers\\.\\d+\\.self_attn\\.o_proj\\.weight", PartitionSpec::of({"", "mp"}));
  p.rules.add(".*norm\\.weight", PartitionSpec::of({""}));
  for (int l : {0, 2, 10}) {
    const std::string a = "model.layers." + std::to_string(l) + ".self_attn.";
    p.tensors.push_back(
        {a + "q_proj.weight", {64, 64}, DType::bf16, PartitionSpec::of({"mp", ""})});
    p.tensors.push_back(
        {a + "k_proj.weight", {32, 64}, DType::bf16, PartitionSpec::of({"mp", ""})});
    p.tensors.push_back(
        {a + "o_proj.weight", {64, 64}, DType::bf16, PartitionSpec::of({"", "mp"})});
  }
  p.tensors.push_back(
      {"model.embed_tokens.weight", {512, 64}, DType::f32, PartitionSpec::of({"mp", ""})});
  p.weight_dtype = DType::bf16;
  p.kv_dtype = DType::bf16;
  p.seq_len = 256;
  p.batch = 4;
  p.prefill_chunk = 128;
  p.predicted_bytes = {{"weights", 12345}, {"kv_cache", 678}};
  return p;
}

}  // namespace

TEST(Plan, JsonRoundTrip) {
  const Plan p = small_plan();
  p.validate();
  const nlohmann::json j = p.to_json();
  EXPECT_EQ(j["format"], "meshlm-plan");
  EXPECT_EQ(j["mesh"]["shape"], (nlohmann::json{2, 2}));
  EXPECT_EQ(j["tensors"]["model.layers.10.self_attn.o_proj.weight"]["spec"],
            (nlohmann::json{nullptr, "mp"}));
  const Plan q = Plan::from_json(j);
  EXPECT_EQ(q.to_json(), j);
  EXPECT_EQ(q.mesh, p.mesh);
  EXPECT_EQ(q.rules.rules().size(), 3u);
  EXPECT_EQ(q.rules.rules()[1].pattern, p.rules.rules()[1].pattern);
  EXPECT_EQ(q.tensors.size(), p.tensors.size());
  EXPECT_EQ(q.find("model.embed_tokens.weight")->dtype, DType::f32);
  EXPECT_EQ(q.seq_len, 256);
  EXPECT_EQ(q.batch, 4);
  EXPECT_EQ(q.prefill_chunk, 128);
  EXPECT_EQ(q.kv_dtype, DType::bf16);
  EXPECT_EQ(q.predicted_bytes.at("weights"), 12345u);
  // from_json orders tensors naturally: layer 10 after layer 2, not alphabetically.
  EXPECT_LT(q.find("model.layers.2.self_attn.q_proj.weight") - q.tensors.data(),
            q.find("model.layers.10.self_attn.q_proj.weight") - q.tensors.data());
}

TEST(Plan, SaveLoadKeepsTheFileOrderAndEveryField) {
  Plan p = small_plan();
  p.device = DeviceSpec{"dev", "test device", 4, 1ull << 30, 1e11, {{"fp32", 1e12}}, 1e9, 2e-6};
  const fs::path path = fs::temp_directory_path() / "meshlm_test_plan.json";
  p.save(path.string());
  const Plan q = Plan::load(path.string());
  ASSERT_EQ(q.tensors.size(), p.tensors.size());
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    EXPECT_EQ(q.tensors[i].name, p.tensors[i].name);
    EXPECT_EQ(q.tensors[i].shape, p.tensors[i].shape);
    EXPECT_EQ(q.tensors[i].spec, p.tensors[i].spec);
  }
  ASSERT_TRUE(q.device.has_value());
  EXPECT_EQ(q.device->hbm_bytes, 1ull << 30);
  EXPECT_EQ(q.to_json(), p.to_json());
  fs::remove(path);
  EXPECT_NE(error_of([&] { Plan::load(path.string()); }).find(path.string()), std::string::npos);
}

TEST(Plan, SpecForPrefersTheTensorEntryThenTheFirstRule) {
  Plan p = small_plan();
  p.rules.add("model\\.layers\\.\\d+\\.mlp\\.down_proj\\.weight", PartitionSpec::of({"", "mp"}));
  // Listed tensor: its own spec, even though rule 0 also matches it.
  p.tensors[0].spec = PartitionSpec::of({"", ""});
  EXPECT_EQ(p.spec_for("model.layers.0.self_attn.q_proj.weight"), PartitionSpec::of({"", ""}));
  // Not listed: the first matching rule.
  EXPECT_EQ(p.spec_for("model.layers.7.self_attn.v_proj.weight"), PartitionSpec::of({"mp", ""}));
  EXPECT_EQ(p.spec_for("model.layers.7.mlp.down_proj.weight"), PartitionSpec::of({"", "mp"}));
  EXPECT_EQ(p.spec_for("model.norm.weight"), PartitionSpec::of({""}));
  const std::string none = error_of([&] { p.spec_for("lm_head.weight"); });
  EXPECT_NE(none.find("lm_head.weight"), std::string::npos);
  EXPECT_EQ(p.sharding_for("model.layers.0.self_attn.o_proj.weight").shard_shape({64, 64}),
            (Shape{64, 32}));  // (None, mp) on mp = 2
}

TEST(Plan, ValidationNamesTensorDimensionAndAxis) {
  {
    Plan p = small_plan();
    p.tensors[1].spec = PartitionSpec::of({"tp", ""});
    const std::string e = error_of([&] { Plan::from_json(p.to_json()); });
    EXPECT_NE(e.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("'tp'"), std::string::npos) << e;
  }
  {
    Plan p = small_plan();
    p.tensors[0].spec = PartitionSpec::of({"mp", "mp"});
    const std::string e = error_of([&] { p.validate(); });
    EXPECT_NE(e.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("more than once"), std::string::npos) << e;
  }
  {
    Plan p = small_plan();
    p.mesh = AbstractMesh::parse("1x3");
    const std::string e = error_of([&] { p.validate(); });
    EXPECT_EQ(e.find("dimension 0 of model.layers.0.self_attn.q_proj.weight (size 64) is not "
                     "divisible by axis 'mp' (size 3)"),
              0u)
        << e;
  }
  {
    Plan p = small_plan();
    p.rules.add("lm_head\\.weight", PartitionSpec::of({"model", ""}));
    const std::string e = error_of([&] { p.validate(); });
    EXPECT_NE(e.find("lm_head"), std::string::npos) << e;
    EXPECT_NE(e.find("'model'"), std::string::npos) << e;
  }
  {
    Plan p = small_plan();  // 4 KV heads over mp 8
    p.mesh = AbstractMesh::parse("1x8");
    p.tensors.clear();
    const std::string e = error_of([&] { p.validate(); });
    EXPECT_NE(e.find("dimension 1 of the KV cache"), std::string::npos) << e;
    EXPECT_NE(e.find("'mp' (size 8)"), std::string::npos) << e;
  }
  {
    Plan p = small_plan();  // batch 3 over dp 2
    p.batch = 3;
    p.tensors.clear();
    const std::string e = error_of([&] { p.validate(); });
    EXPECT_NE(e.find("dimension 0 of the KV cache"), std::string::npos) << e;
    EXPECT_NE(e.find("'dp' (size 2)"), std::string::npos) << e;
  }
  {
    Plan p = small_plan();
    p.tensors[0].spec = PartitionSpec::of({"mp"});
    EXPECT_NE(error_of([&] { p.validate(); }).find("2 dimensions"), std::string::npos);
  }
  {
    nlohmann::json j = small_plan().to_json();
    j.erase("seq_len");
    EXPECT_NE(error_of([&] { Plan::from_json(j); }).find("seq_len"), std::string::npos);
    j = small_plan().to_json();
    j["mesh"].erase("axis_names");
    EXPECT_NE(error_of([&] { Plan::from_json(j); }).find("axis_names"), std::string::npos);
    j = small_plan().to_json();
    j["format"] = "something";
    EXPECT_NE(error_of([&] { Plan::from_json(j); }).find("meshlm-plan"), std::string::npos);
    j = small_plan().to_json();
    j["dtypes"]["weights"] = "fp8";
    EXPECT_NE(error_of([&] { Plan::from_json(j); }).find("fp8"), std::string::npos);
  }
}

TEST(Plan, HandWrittenPlanWithOnlyRules) {
  const fs::path path = fs::temp_directory_path() / "meshlm_test_handwritten_plan.json";
  std::ofstream(path) << R"({
    "format": "meshlm-plan", "version": 1,
    "model": {"name": "tiny", "config": {"hidden_size": 64, "num_attention_heads": 8,
                                          "num_key_value_heads": 4}},
    "mesh": {"shape": [1, 2], "axis_names": ["dp", "mp"]},
    "rules": [{"pattern": ".*_proj\\.weight", "spec": ["mp", null]},
              {"pattern": ".*", "spec": [null, null]}],
    "seq_len": 64, "batch": 1
  })";
  const Plan p = Plan::load(path.string());
  fs::remove(path);
  EXPECT_EQ(p.prefill_chunk, 64);  // defaults to seq_len
  EXPECT_EQ(p.kv_cache_spec, PartitionSpec::of({"dp", "mp", "", ""}));
  EXPECT_EQ(p.spec_for("model.layers.0.mlp.up_proj.weight"), PartitionSpec::of({"mp", ""}));
  EXPECT_EQ(p.spec_for("model.embed_tokens.weight"), PartitionSpec::of({"", ""}));
}

// Found by fuzz_plan (fuzz/corpus/plan/crash-*): each was an nlohmann
// exception, not a meshlm::Error naming the file and the field.
TEST(Plan, HostileFilesAreNamedErrors) {
  const std::string head = R"({"mesh": {"shape": [1], "axis_names": ["mp"]}, "seq_len": 1, "batch": 1, )";
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {head + R"("model": 1})", "'model' must be an object"},
      {head + R"("model": {"name": 5}})", "plan model: field 'name' has the wrong type (5)"},
      {head + R"("device": 1})", "a device spec must be a JSON object"},
      {head + R"("device": {"name": 3}})", "device spec: field 'name' has the wrong type (3)"},
      {head + R"("dtypes": "bf16"})", "'dtypes' must be an object"},
      {head + R"("batch2": 1e400})", "is not valid JSON"},
      {head + R"("model": {"config": )" + deep + "}}", "more than 64 levels deep"},
  };
  for (const auto& [text, says] : cases) {
    const std::string msg = error_of([&] { Plan::parse(text, "hostile.json"); });
    EXPECT_NE(msg.find("hostile.json"), std::string::npos) << msg.substr(0, 200);
    EXPECT_NE(msg.find(says), std::string::npos) << msg.substr(0, 200);
  }
}

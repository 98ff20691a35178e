// ModelConfig: parsing of HF config.json / llama2.c headers, tensor
// inventories of every family, and exact parameter counts of shipped configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "arch/model_config.h"
#include "common/test_models.h"
#include "sharding/device_spec.h"

namespace fs = std::filesystem;
using namespace meshlm;
using meshlm::test::error_of;

namespace {

// Published parameter counts (the authors' model cards / safetensors totals).
// The first seven are the table of the shared model-configs README. For the
// three configs shipped for the other families the counts are also checked by
// hand from the inventory of docs/DESIGN.md §5:
//   qwen2-7b: embed + lm_head 2 x 152064 x 3584 = 1,089,994,752; per layer
//     q 3584x3584 + 3584, k/v 2 x (512x3584 + 512), o 3584x3584, mlp 3 x 3584 x 18944,
//     norms 2 x 3584 = 233,057,792; x 28 = 6,525,618,176; + final norm 3584
//     = 7,615,616,512 (Qwen2-7B's published count).
//   mixtral-8x7b-v0.1: embed + lm_head 2 x 32000 x 4096 = 262,144,000; per layer
//     attention 4096 x (4096 + 1024 + 1024 + 4096) = 41,943,040, router 8 x 4096,
//     experts 8 x 3 x 4096 x 14336 = 1,409,286,144, norms 8192 = 1,451,270,144;
//     x 32 = 46,440,644,608; + 4096 = 46,702,792,704 (Mixtral-8x7B's published count).
//   gpt-oss-20b: embed + lm_head 2 x 201088 x 2880 = 1,158,266,880; per layer
//     q 4096x2880 + 4096, k/v 2 x (512x2880 + 512), o 2880x4096 + 2880, sinks 64
//     = 26,550,144; router 32x2880 + 32, gate_up 32x2880x5760 + 32x5760,
//     down 32x2880x2880 + 32x2880 = 796,631,072; norms 5760; = 823,186,976;
//     x 24 = 19,756,487,424; + 2880 = 20,914,757,184.
//   gpt-oss-120b: the same with 128 experts and 36 layers: per layer attention 26,550,144
//     + router 128x2880 + 128 + experts 128 x (2880x5760 + 5760 + 2880x2880 + 2880)
//     + norms 5760 = 3,213,080,192; x 36 = 115,670,886,912; + 1,158,266,880 + 2880
//     = 116,829,156,672 (OpenAI's published 116.83B).
const std::map<std::string, uint64_t> kPublished = {
    {"tinyllama-1.1b", 1100048384ull},     {"llama-3.2-1b", 1235814400ull},
    {"llama-3.2-3b", 3212749824ull},       {"llama-2-7b", 6738415616ull},
    {"llama-2-13b", 13015864320ull},       {"mistral-7b-v0.1", 7241732096ull},
    {"llama-3.1-70b", 70553706496ull},     {"qwen2-7b", 7615616512ull},
    {"mixtral-8x7b-v0.1", 46702792704ull}, {"gpt-oss-20b", 20914757184ull},
    {"gpt-oss-120b", 116829156672ull},
};

}  // namespace

TEST(ModelConfig, EveryShippedConfigHasItsPublishedParameterCount) {
  size_t seen = 0;
  for (auto& e : fs::directory_iterator(fs::path(config_dir()) / "models")) {
    if (e.path().extension() != ".json") continue;
    const std::string name = e.path().stem().string();
    auto it = kPublished.find(name);
    ASSERT_NE(it, kPublished.end()) << "shipped config " << name << " has no expected count";
    const ModelConfig c = ModelConfig::load(e.path().string());
    EXPECT_EQ(parameter_count(c), it->second) << name;
    ++seen;
  }
  EXPECT_EQ(seen, kPublished.size());
}

TEST(ModelConfig, LoadsByNameDirectoryAndPath) {
  const ModelConfig by_name = ModelConfig::load("llama-2-7b");
  EXPECT_EQ(by_name.name, "llama-2-7b");
  EXPECT_EQ(by_name.hidden_size, 4096);
  EXPECT_EQ(by_name.head_dim, 128);
  EXPECT_EQ(by_name.num_kv_heads, 32);  // absent field would default to heads; here given
  EXPECT_EQ(by_name.torch_dtype, DType::f16);

  const fs::path dir = fs::temp_directory_path() / "meshlm_test_model_dir";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << test::small_llama_json().dump();
  const ModelConfig from_dir = ModelConfig::load(dir.string());
  EXPECT_EQ(from_dir.name, "meshlm_test_model_dir");
  EXPECT_EQ(from_dir.intermediate_size, 172);
  const ModelConfig from_file = ModelConfig::load((dir / "config.json").string());
  EXPECT_EQ(from_file.name, "meshlm_test_model_dir");
  fs::remove_all(dir);

  EXPECT_NE(error_of([] { ModelConfig::load("no-such-model"); }).find("llama-2-7b"),
            std::string::npos)
      << "the error lists the known names";
}

TEST(ModelConfig, Llama2cHeaderOfStories260K) {
  const ModelConfig c = ModelConfig::load(test::stories260k_path());
  EXPECT_EQ(c.name, "stories260K");
  EXPECT_EQ(c.model_type, "llama");
  test::expect_stories260k_shapes(c);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(c.torch_dtype, DType::f32);
  // 512x64 embed + 5 x (2x64 norms + 64x64 q + 2 x 32x64 k/v + 64x64 o + 3 x 172x64) + 64
  // = 32768 + 5 x (128 + 4096 + 4096 + 4096 + 33024) + 64 = 32768 + 227200 + 64 = 260,032.
  EXPECT_EQ(parameter_count(c), 260032u);
  // The file holds exactly these floats plus the two skipped RoPE tables (512 x 8/2 each).
  const uint64_t floats = 260032 + 2 * 512 * 4;
  EXPECT_EQ(fs::file_size(test::stories260k_path()), 28 + 4 * floats);
}

TEST(ModelConfig, Llama2cNegativeVocabMeansUntied) {
  const int32_t h[7] = {64, 172, 5, 8, 4, -512, 512};
  const ModelConfig c = ModelConfig::from_llama2c_header(h, "x");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(tensor_inventory(c).back().name, "lm_head.weight");
  EXPECT_EQ(parameter_count(c), 260032u + 512 * 64);
  const int32_t bad[7] = {64, 172, 5, 7, 4, 512, 512};
  EXPECT_NE(error_of([&] { ModelConfig::from_llama2c_header(bad, "x"); }).find("n_heads"),
            std::string::npos);
}

TEST(ModelConfig, ErrorsNameTheProblem) {
  auto j = test::small_llama_json();
  j["model_type"] = "falcon";
  const std::string unknown = error_of([&] { ModelConfig::from_hf_json(j, "m"); });
  EXPECT_NE(unknown.find("falcon"), std::string::npos);
  EXPECT_NE(unknown.find("llama, mistral, qwen2, mixtral, gpt_oss"), std::string::npos);

  for (const char* field : {"hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "vocab_size", "model_type"}) {
    auto m = test::small_llama_json();
    m.erase(field);
    EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(m, "m"); }).find(field), std::string::npos)
        << field;
  }
  auto gqa = test::small_llama_json();
  gqa["num_key_value_heads"] = 3;
  EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(gqa); }).find("num_key_value_heads"),
            std::string::npos);
  auto moe = test::small_llama_json();
  moe["model_type"] = "mixtral";
  EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(moe); }).find("num_local_experts"),
            std::string::npos);
  auto typed = test::small_llama_json();
  typed["hidden_size"] = "64";
  EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(typed); }).find("wrong type"),
            std::string::npos);
}

// Hostile numbers: integers only, every dimension within int32, layers and
// the inventory bounded before anything is allocated, the parameter count
// within int64 (docs/DESIGN.md §9, Input limits).
TEST(ModelConfig, HostileNumbersAreNamedErrors) {
  auto with = [](const char* field, nlohmann::json v) {
    auto j = test::small_llama_json();
    j[field] = v;
    return error_of([&] { ModelConfig::from_hf_json(j, "m"); });
  };
  EXPECT_NE(with("intermediate_size", int64_t{1} << 62)
                .find("intermediate_size' is 4611686018427387904 (expected 1..2147483647)"),
            std::string::npos);
  EXPECT_NE(with("hidden_size", 1e30).find("field 'hidden_size' is 1e+30, expected an integer"),
            std::string::npos);
  EXPECT_NE(with("hidden_size", 64.5).find("field 'hidden_size' is 64.5"), std::string::npos);
  EXPECT_NE(with("num_hidden_layers", int64_t{1000000000000})
                .find("num_hidden_layers' is 1000000000000 (expected 1..65536)"),
            std::string::npos);
  EXPECT_NE(with("vocab_size", -3).find("vocab_size' is -3"), std::string::npos);
  EXPECT_NE(with("bos_token_id", 1.5).find("bos_token_id"), std::string::npos);
  // Each dimension in range, the product not: the parameter count overflows.
  auto big = test::small_llama_json();
  big["hidden_size"] = int64_t{1} << 30;
  big["num_attention_heads"] = 1;
  big["num_key_value_heads"] = 1;
  big["intermediate_size"] = int64_t{1} << 30;
  big["vocab_size"] = int64_t{1} << 30;
  const std::string overflow = error_of([&] { ModelConfig::from_hf_json(big, "m"); });
  EXPECT_NE(overflow.find("overflows int64"), std::string::npos) << overflow;
  // Many layers of many experts: the inventory is bounded before it is built.
  auto moe = test::small_llama_json();
  moe["model_type"] = "mixtral";
  moe["num_local_experts"] = 60000;
  moe["num_experts_per_tok"] = 2;
  moe["num_hidden_layers"] = 60000;
  EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(moe, "m"); }).find("tensors a model may have"),
            std::string::npos);
  // A llama2.c header beyond the limits.
  const int32_t header[7] = {64, 172, 2000000000, 8, 4, 512, 512};
  EXPECT_NE(error_of([&] {
              ModelConfig::from_llama2c_header(header, "h");
            }).find("num_hidden_layers is 2000000000"),
            std::string::npos);
}

TEST(ModelConfig, HfJsonRoundTripOfEveryShippedConfig) {
  for (auto& e : fs::directory_iterator(fs::path(config_dir()) / "models")) {
    if (e.path().extension() != ".json") continue;
    const ModelConfig c = ModelConfig::load(e.path().string());
    const ModelConfig back = ModelConfig::from_hf_json(c.to_hf_json(), c.name);
    EXPECT_EQ(back.to_hf_json(), c.to_hf_json()) << c.name;
    EXPECT_EQ(parameter_count(back), parameter_count(c)) << c.name;
    EXPECT_EQ(back.layer_types, c.layer_types) << c.name;
    EXPECT_EQ(back.sliding_window, c.sliding_window) << c.name;
    EXPECT_EQ(back.eos_token_ids, c.eos_token_ids) << c.name;
  }
  const ModelConfig s = ModelConfig::load(test::stories260k_path());
  const ModelConfig back = ModelConfig::from_hf_json(s.to_hf_json(), s.name);
  EXPECT_EQ(back.eos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(back.torch_dtype, DType::f32);
  EXPECT_TRUE(back.tie_word_embeddings);
}

TEST(ModelConfig, SlidingWindowsPerFamily) {
  const ModelConfig mistral = ModelConfig::load("mistral-7b-v0.1");
  for (int64_t l = 0; l < mistral.num_layers; ++l) EXPECT_TRUE(mistral.layer_is_sliding(l));
  EXPECT_EQ(mistral.kv_positions(0, 3000), 3000);
  EXPECT_EQ(mistral.kv_positions(31, 10000), 4096);

  const ModelConfig oss = ModelConfig::load("gpt-oss-20b");
  EXPECT_TRUE(oss.layer_is_sliding(0));
  EXPECT_FALSE(oss.layer_is_sliding(1));
  EXPECT_EQ(oss.kv_positions(0, 4096), 128);
  EXPECT_EQ(oss.kv_positions(1, 4096), 4096);

  const ModelConfig qwen = ModelConfig::load("qwen2-7b");  // use_sliding_window: false
  EXPECT_EQ(qwen.sliding_window, 0);
  EXPECT_EQ(qwen.kv_positions(27, 100000), 100000);
  auto j = qwen.to_hf_json();
  j["use_sliding_window"] = true;
  j["sliding_window"] = 4096;
  j["max_window_layers"] = 20;
  j.erase("layer_types");
  const ModelConfig q2 = ModelConfig::from_hf_json(j);
  EXPECT_FALSE(q2.layer_is_sliding(19));
  EXPECT_TRUE(q2.layer_is_sliding(20));

  const ModelConfig llama = ModelConfig::load("llama-3.1-70b");
  EXPECT_EQ(llama.kv_positions(0, 131072), 131072);
  EXPECT_EQ(llama.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(llama.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
}

TEST(ModelConfig, InventoriesFollowEachFamily) {
  auto shape_of = [](const ModelConfig& c, const std::string& name) {
    for (auto& t : tensor_inventory(c))
      if (t.name == name) return t.shape;
    return Shape{};
  };
  const ModelConfig qwen = ModelConfig::load("qwen2-7b");
  EXPECT_EQ(shape_of(qwen, "model.layers.0.self_attn.q_proj.bias"), (Shape{3584}));
  EXPECT_EQ(shape_of(qwen, "model.layers.0.self_attn.k_proj.bias"), (Shape{512}));
  EXPECT_EQ(shape_of(qwen, "model.layers.0.self_attn.o_proj.bias"), Shape{});  // none

  const ModelConfig mix = ModelConfig::load("mixtral-8x7b-v0.1");
  EXPECT_EQ(shape_of(mix, "model.layers.31.block_sparse_moe.gate.weight"), (Shape{8, 4096}));
  EXPECT_EQ(shape_of(mix, "model.layers.0.block_sparse_moe.experts.w2"),
            (Shape{8, 4096, 14336}));  // the stack of experts.{e}.w2.weight
  EXPECT_EQ(tensor_inventory(mix).size(), 1u + 32 * (2 + 4 + 1 + 3) + 1 + 1);

  const ModelConfig oss = ModelConfig::load("gpt-oss-20b");
  EXPECT_EQ(oss.head_dim, 64);
  EXPECT_EQ(shape_of(oss, "model.layers.0.self_attn.q_proj.weight"), (Shape{4096, 2880}));
  EXPECT_EQ(shape_of(oss, "model.layers.0.self_attn.o_proj.bias"), (Shape{2880}));
  EXPECT_EQ(shape_of(oss, "model.layers.0.self_attn.sinks"), (Shape{64}));
  // Logical [E, out, in] (the HF BF16 files store [E, in, out]).
  EXPECT_EQ(shape_of(oss, "model.layers.0.mlp.experts.gate_up_proj"), (Shape{32, 5760, 2880}));
  EXPECT_EQ(shape_of(oss, "model.layers.0.mlp.experts.down_proj"), (Shape{32, 2880, 2880}));
  EXPECT_EQ(shape_of(oss, "model.layers.0.mlp.router.bias"), (Shape{32}));
  EXPECT_EQ(oss.experts_per_token, 4);

  const ModelConfig tied = ModelConfig::load("llama-3.2-1b");
  EXPECT_EQ(shape_of(tied, "lm_head.weight"), Shape{});
  EXPECT_EQ(tensor_inventory(tied).front().name, "model.embed_tokens.weight");
  EXPECT_EQ(tensor_inventory(tied).back().name, "model.norm.weight");
}

// gpt-oss's YaRN rope_scaling: every field read, written back, and checked.
TEST(ModelConfig, YarnRopeScalingParsesRoundTripsAndIsChecked) {
  const ModelConfig oss = ModelConfig::load("gpt-oss-20b");
  const RopeScaling& r = oss.rope_scaling;
  EXPECT_EQ(r.type, "yarn");
  EXPECT_DOUBLE_EQ(r.factor, 32.0);
  EXPECT_EQ(r.original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(r.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(r.beta_slow, 1.0);
  EXPECT_FALSE(r.truncate);
  EXPECT_EQ(r.attention_factor, 0.0);  // derived
  const nlohmann::json written = oss.to_hf_json().at("rope_scaling");
  EXPECT_EQ(written.at("truncate"), false);
  EXPECT_EQ(written.at("beta_fast"), 32.0);
  EXPECT_FALSE(written.contains("attention_factor"));

  // Defaults (HF: beta_fast 32, beta_slow 1, truncate true) and an explicit
  // attention_factor survive the round trip.
  auto j = oss.to_hf_json();
  j["rope_scaling"] = {{"rope_type", "yarn"},
                       {"factor", 4},
                       {"original_max_position_embeddings", 32768},
                       {"attention_factor", 1.25}};
  const ModelConfig c = ModelConfig::from_hf_json(j, "m");
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_slow, 1.0);
  EXPECT_TRUE(c.rope_scaling.truncate);
  EXPECT_DOUBLE_EQ(c.rope_scaling.attention_factor, 1.25);
  const ModelConfig back = ModelConfig::from_hf_json(c.to_hf_json(), "m");
  EXPECT_EQ(back.to_hf_json(), c.to_hf_json());
  EXPECT_DOUBLE_EQ(back.rope_scaling.attention_factor, 1.25);
  EXPECT_TRUE(back.rope_scaling.truncate);
  // Other types write no yarn fields.
  const nlohmann::json llama3 = ModelConfig::load("llama-3.1-70b").to_hf_json().at("rope_scaling");
  EXPECT_FALSE(llama3.contains("beta_fast"));
  EXPECT_FALSE(llama3.contains("truncate"));

  auto error_with = [&](const nlohmann::json& fields) {
    auto bad = oss.to_hf_json();
    for (auto& [key, value] : fields.items()) bad["rope_scaling"][key] = value;
    return error_of([&] { ModelConfig::from_hf_json(bad, "m"); });
  };
  EXPECT_NE(error_with({{"factor", 0}}).find("rope_scaling: factor is 0 (expected > 0)"),
            std::string::npos);
  EXPECT_NE(error_with({{"original_max_position_embeddings", 0}})
                .find("original_max_position_embeddings is 0 (yarn needs >= 1)"),
            std::string::npos);
  EXPECT_NE(error_with({{"beta_fast", 1}, {"beta_slow", 2}})
                .find("beta_fast (1) must be greater than beta_slow (2)"),
            std::string::npos);
  EXPECT_NE(error_with({{"beta_slow", -0.5}}).find("beta_slow is -0.5 (expected > 0)"),
            std::string::npos);
  EXPECT_NE(error_with({{"attention_factor", 0}}).find("attention_factor is 0 (expected > 0)"),
            std::string::npos);
  EXPECT_NE(error_with({{"truncate", "no"}}).find("truncate"), std::string::npos);
  EXPECT_NE(error_with({{"mscale", 1}, {"mscale_all_dim", 1}}).find("mscale"), std::string::npos);
  // The factor is checked for every type (linear and llama3 divide by it).
  auto linear = test::small_llama_json();
  linear["rope_scaling"] = {{"type", "linear"}, {"factor", -2}};
  EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(linear, "m"); }).find("factor is -2"),
            std::string::npos);
}

// Found by fuzz_model_config (fuzz/corpus/model_config/): a number beyond
// double was nlohmann's out_of_range (not a meshlm::Error), and deep nesting
// overflowed the stack when an error message dumped the value.
TEST(ModelConfig, HostileJsonIsANamedError) {
  EXPECT_NE(error_of([] { parse_json(R"({"hidden_size": 1e400})", "config.json"); })
                .find("config.json is not valid JSON"),
            std::string::npos);
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  EXPECT_NE(error_of([&] { parse_json("{\"model_type\": " + deep + "}", "config.json"); })
                .find("config.json nests arrays and objects more than 64 levels deep"),
            std::string::npos);
  // At the limit the value parses, and its error quotes an excerpt.
  const std::string limit = std::string(63, '[') + std::string(63, ']');
  const nlohmann::json j = parse_json("{\"model_type\": " + limit + "}", "config.json");
  EXPECT_NE(error_of([&] { ModelConfig::from_hf_json(j); }).find("model_type"), std::string::npos);
}

// parameter_count (called by check_limits on every config read) sums the
// roles without building the inventory: a 28-byte llama2.c header of 38836
// layers built a 430,000-tensor inventory (0.3 s, 400 MB; fuzz_llama2c_header).
TEST(ModelConfig, ParameterCountIsTheInventorysSum) {
  for (const auto& [name, count] : kPublished) {
    const ModelConfig c = ModelConfig::load(name);
    uint64_t sum = 0;
    for (const TensorInfo& t : tensor_inventory(c)) sum += static_cast<uint64_t>(num_elements(t.shape));
    EXPECT_EQ(parameter_count(c), sum) << name;
  }
  const int32_t header[7] = {1, 1, 38836, 1, 1, 1, 1};
  const ModelConfig many = ModelConfig::from_llama2c_header(header);
  EXPECT_EQ(parameter_count(many), 2u + 38836u * 9u);  // embed, final norm, 9 per layer
}

// Mixture-of-experts runtime: tiny mixtral and gpt_oss models (sliding windows
// shorter than the prompts, YaRN, sinks, biases, H·hd != D) on every mesh of
// the job's ranks and every expert placement (--moe tp, ep) against the
// single-device run of the same weights: greedy tokens identical, logits
// within stated bounds at every prefill and decode position; every expert
// gets tokens; the device memory of each placement is the plan's prediction;
// the BF16 and MXFP4 file layouts of the same weights give the same tokens.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "model/io/checkpoint_writer.h"
#include "planner/layout.h"
#include "runtime_test_util.h"

namespace meshlm::test {
namespace {

// fp32 weights: only the order of sums differs between meshes (the
// all-reduce of the devices' expert sums, GEMM blocking): bounds as the
// dense models'. mxfp4: the weights are exact in fp32 on every mesh (a
// shard holds whole blocks), so the same bounds hold.
constexpr double kMaxAbsError = 1e-5;  // relative to max(1, max |logit|)
constexpr double kMaxNmse = 1e-11;

nlohmann::json mixtral_config() {
  return {
      {"model_type", "mixtral"},       {"hidden_size", 64},        {"intermediate_size", 128},
      {"num_hidden_layers", 2},        {"num_attention_heads", 4}, {"num_key_value_heads", 2},
      {"num_local_experts", 4},        {"num_experts_per_tok", 2}, {"vocab_size", 256},
      {"max_position_embeddings", 64}, {"sliding_window", 6},      {"tie_word_embeddings", false},
      {"rope_theta", 10000.0},         {"torch_dtype", "float32"}};
}

nlohmann::json gpt_oss_config() {
  return {{"model_type", "gpt_oss"},
          {"hidden_size", 64},
          {"intermediate_size", 128},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 2},
          {"head_dim", 16},  // H * hd = 128 != D
          {"num_local_experts", 4},
          {"experts_per_token", 2},
          {"vocab_size", 256},
          {"max_position_embeddings", 64},
          {"sliding_window", 4},
          {"layer_types", {"sliding_attention", "full_attention"}},
          {"swiglu_limit", 7.0},
          {"rope_theta", 150000.0},
          {"rope_scaling",
           {{"rope_type", "yarn"},
            {"factor", 4.0},
            {"beta_fast", 32.0},
            {"beta_slow", 1.0},
            {"original_max_position_embeddings", 16},
            {"truncate", false}}},
          {"tie_word_embeddings", false},
          {"torch_dtype", "float32"}};
}

struct Variant {
  std::string name;
  nlohmann::json config;
  DType weights = DType::f32;
};

std::vector<Variant> variants() {
  return {{"mixtral", mixtral_config()},
          {"gpt-oss", gpt_oss_config()},
          {"gpt-oss-mxfp4", gpt_oss_config(), DType::mxfp4}};
}

// Seeded prompts of different lengths, longer than the sliding windows.
std::vector<std::vector<int32_t>> prompts_of(int64_t vocab) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab) - 1);
  std::vector<std::vector<int32_t>> out;
  for (int len : {9, 2, 13}) {
    std::vector<int32_t> p;
    for (int i = 0; i < len; ++i) p.push_back(id(rng));
    out.push_back(p);
  }
  return out;
}

constexpr int64_t kNewTokens = 10;

// Whether the planner accepts the placement on this mesh (mp 3 divides
// neither these experts nor these heads).
bool placeable(const ModelConfig& c, const std::string& shape, DType weights, MoeSharding moe) {
  try {
    make_layout(c, AbstractMesh::parse(shape, {"dp", "mp"}), weights, moe);
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(RuntimeMoe, EveryMeshAndPlacementMatchesSingleDevice) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE("model " + v.name);
    const ModelConfig config = ModelConfig::from_hf_json(v.config, v.name);
    const auto ckpt = synthetic_checkpoint(config, 5);
    const auto prompts = prompts_of(config.vocab_size);
    const int64_t B = static_cast<int64_t>(prompts.size());
    GenerateOptions greedy;
    greedy.max_new_tokens = kNewTokens;
    greedy.stop_ids = {};

    const int64_t S = config.max_position_embeddings;
    Deployment one(MPI_COMM_SELF, "1x1", *ckpt, B, S, v.weights, DType::f32, 0, MoeSharding::tp);
    const auto ref = generate(*one.engine, *one.mesh, prompts, greedy);
    std::vector<std::vector<int32_t>> ref_ids;
    for (auto& s : ref.sequences) ref_ids.push_back(s.generated_ids);
    // The prompts route to every expert of every layer.
    const auto& counts = one.engine->expert_token_counts();
    ASSERT_EQ(counts.size(), static_cast<size_t>(config.num_layers * config.num_experts));
    for (size_t i = 0; i < counts.size(); ++i) EXPECT_GT(counts[i], 0) << "layer/expert " << i;
    const Trace ref_trace = trace_logits(*one.engine, prompts, ref_ids, kNewTokens);

    int placements = 0;
    for (const std::string& shape : meshes_of_world())
      for (MoeSharding moe : {MoeSharding::tp, MoeSharding::ep}) {
        if (!placeable(config, shape, v.weights, moe)) continue;
        SCOPED_TRACE("mesh " + shape + " --moe " + moe_sharding_name(moe));
        ++placements;
        Deployment d(MPI_COMM_WORLD, shape, *ckpt, B, S, v.weights, DType::f32, 0, moe);
        const auto got = generate(*d.engine, *d.mesh, prompts, greedy);
        for (size_t i = 0; i < prompts.size(); ++i)
          EXPECT_EQ(got.sequences[i].generated_ids, ref_ids[i]) << "sequence " << i;
        // Memory per category as the plan predicts, on every rank.
        const auto& want = d.plan.predicted_bytes;
        EXPECT_EQ(d.memory->peak(MemCategory::weights), want.at("weights"));
        EXPECT_EQ(d.memory->peak(MemCategory::kv_cache), want.at("kv_cache"));
        EXPECT_EQ(d.memory->peak(MemCategory::activations), want.at("activations"));
        EXPECT_EQ(d.memory->peak(MemCategory::comm), want.at("comm"));

        const Trace t = trace_logits(*d.engine, prompts, ref_ids, kNewTokens);
        double worst_abs = 0, worst_nmse = 0;
        for (size_t g = 0; g < t.size(); ++g)
          for (size_t s = 0; s < t[g].size(); ++s) {
            std::vector<float> copy = t[g][s];
            const ErrorStats e = compare(
                LogitsView{copy.data(), static_cast<int64_t>(copy.size()), 0, 1}, ref_trace[g][s]);
            worst_abs = std::max(worst_abs, e.max_abs / std::max(1.0, e.max_ref));
            worst_nmse = std::max(worst_nmse, e.nmse);
          }
        EXPECT_LE(worst_abs, kMaxAbsError);
        EXPECT_LE(worst_nmse, kMaxNmse);
        if (world_rank() == 0)
          std::printf("  %-14s mesh %s --moe %s: max abs error %.3g, max NMSE %.3g\n",
                      v.name.c_str(), shape.c_str(), moe_sharding_name(moe), worst_abs, worst_nmse);
      }
    EXPECT_GE(placements, 1);
  }
}

// The same weights written in gpt-oss's BF16 layout (experts transposed) and
// its MXFP4 layout (blocks and scales) run as mxfp4 to identical logits: the
// loader quantizes the first exactly as the writer quantized the second.
TEST(RuntimeMoe, Mxfp4AndBf16LayoutsGiveTheSameTokens) {
  const ModelConfig config = ModelConfig::from_hf_json(gpt_oss_config(), "gpt-oss-tiny");
  std::string dir;
  if (world_rank() == 0) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "meshlm-moe-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    const auto src = synthetic_checkpoint(config, 9);
    WriteOptions plain, mx;
    plain.max_shard_bytes = 64 << 10;  // an index and several files
    mx.mxfp4 = true;
    write_safetensors_checkpoint(*src, dir + "/bf16", plain);
    write_safetensors_checkpoint(*src, dir + "/mxfp4", mx);
  }
  int len = static_cast<int>(dir.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  dir.resize(static_cast<size_t>(len));
  MPI_Bcast(dir.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  const auto plain = open_checkpoint(dir + "/bf16");
  const auto mx = open_checkpoint(dir + "/mxfp4");
  EXPECT_EQ(mx->stored_dtype("model.layers.1.mlp.experts.down_proj"), DType::mxfp4);
  EXPECT_EQ(plain->stored_dtype("model.layers.1.mlp.experts.down_proj"), DType::f32);
  const auto prompts = prompts_of(config.vocab_size);
  GenerateOptions greedy;
  greedy.max_new_tokens = kNewTokens;
  greedy.stop_ids = {};
  for (const std::string& shape : meshes_of_world()) {
    if (!placeable(config, shape, DType::mxfp4, MoeSharding::tp)) continue;
    SCOPED_TRACE("mesh " + shape);
    const int64_t B = static_cast<int64_t>(prompts.size()), S = config.max_position_embeddings;
    Deployment a(MPI_COMM_WORLD, shape, *plain, B, S, DType::mxfp4, DType::f32, 0, MoeSharding::tp);
    Deployment b(MPI_COMM_WORLD, shape, *mx, B, S, DType::mxfp4, DType::f32, 0, MoeSharding::tp);
    const auto ta = generate(*a.engine, *a.mesh, prompts, greedy);
    const auto tb = generate(*b.engine, *b.mesh, prompts, greedy);
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(ta.sequences[i].generated_ids, tb.sequences[i].generated_ids) << i;
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meshlm::test

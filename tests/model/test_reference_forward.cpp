// The real runtime (Engine on a 1x1 mesh, fp32 weights and KV cache) against
// the plain reference forward pass of tests/common/reference_forward.h: the
// logits of every position of a sequence agree within a tolerance, on the
// real stories260K checkpoint (whose golden greedy ids the reference also
// reproduces) and on synthetic models of every family (llama, mistral, qwen2,
// mixtral, gpt_oss).
// A new case (a family, a feature) is one line in kSynthetic.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/reference_forward.h"
#include "common/reference_model.h"
#include "model/accuracy.h"
#include "model/io/checkpoint_writer.h"
#include "runtime_test_util.h"
#include "scaled_checkpoint.h"

namespace meshlm::test {
namespace {

using SequenceLogits = std::vector<std::vector<float>>;

// The runtime's logits at positions first-1 .. T-1: it prefills tokens[0, first)
// and then feeds the rest one decode step at a time.
SequenceLogits runtime_logits(const Checkpoint& ckpt, const std::vector<int32_t>& tokens,
                              size_t first, DType weights) {
  Deployment d(MPI_COMM_WORLD, "1x1", ckpt, 1,
               std::min<int64_t>(ckpt.config().max_position_embeddings, 512), weights);
  return teacher_forced_logits(*d.engine,
                               std::vector<int32_t>(tokens.begin(), tokens.begin() + first),
                               std::vector<int32_t>(tokens.begin() + first, tokens.end()));
}

// Largest |runtime - reference| over the positions both have and the largest
// |reference| logit; expects the same argmax where the reference's top two
// differ by more than the tolerance.
struct Diff {
  double max_abs = 0, max_ref = 0;
};
Diff compare_traces(const SequenceLogits& runtime, const SequenceLogits& reference, size_t first,
                    double tol) {
  EXPECT_EQ(runtime.size(), reference.size() - first + 1);
  Diff d;
  for (size_t r = 0; r < runtime.size() && r + first - 1 < reference.size(); ++r) {
    const std::vector<float>& got = runtime[r];
    const std::vector<float>& want = reference[r + first - 1];
    EXPECT_EQ(got.size(), want.size());
    for (size_t v = 0; v < got.size() && v < want.size(); ++v) {
      d.max_abs = std::max(d.max_abs, std::abs(static_cast<double>(got[v]) - want[v]));
      d.max_ref = std::max(d.max_ref, std::abs(static_cast<double>(want[v])));
    }
    std::vector<float> sorted = want;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    if (sorted.size() > 1 && sorted[0] - sorted[1] > 2 * tol) {
      EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
                std::max_element(want.begin(), want.end()) - want.begin())
          << "argmax at position " << r + first - 1;
    }
  }
  return d;
}

// Runtime vs reference along `tokens`, decoding every position and also
// prefilling the first half; returns the largest difference seen.
double check_against_runtime(const Checkpoint& ckpt, const std::vector<int32_t>& tokens, double tol,
                             DType weights = DType::f32) {
  const SequenceLogits want = reference_logits(ckpt, tokens);
  EXPECT_EQ(want.size(), tokens.size());
  double worst = 0, largest = 0;
  for (size_t first : {size_t{1}, tokens.size() / 2}) {
    SCOPED_TRACE("prefill of " + std::to_string(first) + " tokens");
    const Diff d = compare_traces(runtime_logits(ckpt, tokens, first, weights), want, first, tol);
    EXPECT_LE(d.max_abs, tol) << "largest reference logit " << d.max_ref;
    EXPECT_GT(d.max_ref, 0.1) << "degenerate logits";
    worst = std::max(worst, d.max_abs);
    largest = std::max(largest, d.max_ref);
  }
  std::printf(
      "[ reference ] %s: %zu tokens, max |runtime - reference| logit %.3g (tolerance %g; "
      "largest |logit| %.3g)\n",
      ckpt.config().name.c_str(), tokens.size(), worst, tol, largest);
  ::testing::Test::RecordProperty("max_abs_logit_diff", std::to_string(worst));
  return worst;
}

std::vector<int32_t> pseudo_random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int32_t> out;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    out.push_back(static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(vocab)));
  }
  return out;
}

// ---- stories260K (llama2.c, trained).

TEST(ReferenceForward, Stories260kGreedyIsTheGolden) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  const auto cases = golden_cases();
  ASSERT_FALSE(cases.empty());
  for (const GoldenCase& c : cases) {
    // Ids of positions len(prompt)-1 .. max_positions-1, cut at a sampled BOS.
    const int64_t n = c.max_positions - static_cast<int64_t>(c.prompt.size()) + 1;
    std::vector<int32_t> ids = reference_greedy(*ckpt, c.prompt, n);
    ids.erase(std::find(ids.begin(), ids.end(), 1), ids.end());
    EXPECT_EQ(ids, c.ids);
  }
}

TEST(ReferenceForward, Stories260kLogitsMatchTheRuntime) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  const GoldenCase c = golden_cases().at(0);
  std::vector<int32_t> tokens = c.prompt;
  tokens.insert(tokens.end(), c.ids.begin(), c.ids.end());
  check_against_runtime(*ckpt, tokens, 1e-4);
}

// ---- Synthetic models: deterministic random weights (synthetic_checkpoint).

// A small config of `model_type` with `overrides` applied (JSON merge).
nlohmann::json small(const std::string& model_type, const nlohmann::json& overrides = {}) {
  nlohmann::json j = {{"model_type", model_type}, {"hidden_size", 64},
                      {"intermediate_size", 96},  {"num_hidden_layers", 2},
                      {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"vocab_size", 256},        {"max_position_embeddings", 64},
                      {"rms_norm_eps", 1e-6},     {"torch_dtype", "float32"}};
  if (!overrides.is_null()) j.update(overrides);
  return j;
}

struct SyntheticCase {
  std::string name;
  nlohmann::json config;
  std::map<TensorRole, double> scale = {};  // tensors multiplied (scaled_checkpoint.h)
  int64_t tokens = 24;
  double tolerance = 1e-4;
};

const SyntheticCase kSynthetic[] = {
    // qwen2: q/k/v biases, sliding window (5) on layers >= 1, θ 1e6, untied.
    {"qwen2_bias_sliding", small("qwen2", {{"num_hidden_layers", 3},
                                           {"use_sliding_window", true},
                                           {"sliding_window", 5},
                                           {"max_window_layers", 1},
                                           {"rope_theta", 1e6}})},
    // llama: attention_bias (q, k, v and o), H·hd = 96 != D, llama3 RoPE, tied.
    {"llama_bias_hd24_llama3", small("llama", {{"attention_bias", true},
                                               {"head_dim", 24},
                                               {"tie_word_embeddings", true},
                                               {"rope_scaling",
                                                {{"rope_type", "llama3"},
                                                 {"factor", 8.0},
                                                 {"low_freq_factor", 1.0},
                                                 {"high_freq_factor", 4.0},
                                                 {"original_max_position_embeddings", 64}}}})},
    // mistral: one KV head, sliding window 6 on every layer, linear RoPE.
    {"mistral_mqa_sliding_linear",
     small("mistral", {{"num_key_value_heads", 1},
                       {"sliding_window", 6},
                       {"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}})},
    // mixtral: 4 experts, 2 per token (softmax, top-k, renormalised), sliding window 6.
    {"mixtral_top2_sliding",
     small("mixtral",
           {{"num_local_experts", 4}, {"num_experts_per_tok", 2}, {"sliding_window", 6}})},
    // gpt_oss: 4 experts, 2 per token (top-k, softmax), q/k/v/o biases, sinks,
    // sliding window 6 on even layers, YaRN without truncation (its ramp
    // [3.03, 6.52] within the 12 frequencies), H·hd != D; gate_up_proj x16
    // so that the SwiGLU clamp at ±7 acts.
    {"gpt_oss_top2_yarn_sinks",
     small("gpt_oss", {{"num_local_experts", 4},
                       {"experts_per_token", 2},
                       {"head_dim", 24},
                       {"sliding_window", 6},
                       {"rope_theta", 150000},
                       {"rope_scaling",
                        {{"rope_type", "yarn"},
                         {"factor", 32.0},
                         {"beta_fast", 32.0},
                         {"beta_slow", 1.0},
                         {"truncate", false},
                         {"original_max_position_embeddings", 4096}}}}),
     {{TensorRole::experts_gate_up, 16.0}}},
};

void PrintTo(const SyntheticCase& c, std::ostream* os) {
  *os << c.name;
}

class ReferenceSynthetic : public ::testing::TestWithParam<SyntheticCase> {};

TEST_P(ReferenceSynthetic, LogitsMatchTheRuntime) {
  const SyntheticCase& c = GetParam();
  const ModelConfig config = ModelConfig::from_hf_json(c.config, c.name);
  const ScaledCheckpoint ckpt(synthetic_checkpoint(config, 7), c.scale);
  check_against_runtime(ckpt, pseudo_random_tokens(c.tokens, config.vocab_size, 3), c.tolerance);
}

INSTANTIATE_TEST_SUITE_P(Families, ReferenceSynthetic, ::testing::ValuesIn(kSynthetic),
                         [](const auto& info) { return info.param.name; });

// gpt-oss as released: its experts in MXFP4 files (blocks and scales), run
// with the experts kept in MXFP4 in device memory and multiplied from it.
// The reference reads the same files dequantized (exact in fp32), so only
// the order of sums differs.
TEST(ReferenceForward, GptOssMxfp4FilesMatchTheRuntime) {
  const SyntheticCase& oss = kSynthetic[std::size(kSynthetic) - 1];
  nlohmann::json j = oss.config;
  j["intermediate_size"] = 128;  // whole blocks of 32 along down_proj's input
  const ModelConfig config = ModelConfig::from_hf_json(j, "gpt_oss_mxfp4");
  std::string dir = (std::filesystem::temp_directory_path() / "meshlm-ref-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  WriteOptions mx;  // as released: MXFP4 experts, everything else BF16
  mx.mxfp4 = true;
  mx.dtype = DType::bf16;
  write_safetensors_checkpoint(ScaledCheckpoint(synthetic_checkpoint(config, 7), oss.scale), dir,
                               mx);
  const auto ckpt = open_checkpoint(dir);
  ASSERT_EQ(ckpt->stored_dtype("model.layers.0.mlp.experts.gate_up_proj"), DType::mxfp4);
  check_against_runtime(*ckpt, pseudo_random_tokens(24, config.vocab_size, 3), 1e-4, DType::mxfp4);
  std::filesystem::remove_all(dir);
}

// YaRN of gpt-oss-20b (hd 64, θ 150000, factor 32 over 4096 positions, beta
// 32 and 1): values of openai/gpt-oss's _compute_concentration_and_inv_freq
// (its own config: truncate false; correction range [8.09, 17.40]) and with
// HF's floor/ceil (truncate true, HF's default: [8, 18]), evaluated in Python.
TEST(ReferenceForward, YarnFrequenciesOfGptOss20b) {
  for (const bool truncate : {false, true}) {
    SCOPED_TRACE(truncate ? "truncate" : "no truncation");
    nlohmann::json rope = {{"rope_type", "yarn"},
                           {"factor", 32.0},
                           {"beta_fast", 32.0},
                           {"beta_slow", 1.0},
                           {"original_max_position_embeddings", 4096}};
    if (!truncate) rope["truncate"] = false;  // absent: HF's default true
    const ModelConfig c =
        ModelConfig::from_hf_json(small("gpt_oss", {{"head_dim", 64},
                                                    {"num_local_experts", 4},
                                                    {"experts_per_token", 2},
                                                    {"rope_theta", 150000},
                                                    {"max_position_embeddings", 131072},
                                                    {"rope_scaling", rope}}));
    const reference::RopeTable r = reference::rope_table(c);
    ASSERT_EQ(r.inv_freq.size(), 32u);
    EXPECT_NEAR(r.scale, 1.3465735902799727, 1e-15);
    const std::vector<std::pair<int, double>> want = {
        {0, 1.0},
        {5, 0.15532298948448497},
        {8, 0.050813274815461475},
        {9, truncate ? 0.031620752275346484 : 0.03170569618466377},
        {12, truncate ? 0.007015713910504388 : 0.006794959489732219},
        {17, truncate ? 0.0002279477957951252 : 0.00012931870124506317},
        {18, 3.8308812373753384e-05},
        {31, 3.0235114281192144e-07}};
    for (const auto& [i, f] : want) EXPECT_NEAR(r.inv_freq[i], f, 1e-12 * f) << "i = " << i;
  }
}

}  // namespace
}  // namespace meshlm::test

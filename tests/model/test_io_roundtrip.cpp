// The same weights in both formats: make_random_model (mesh-model make)
// writes safetensors and llama2.c forms that read back identical fp32 values,
// and llama2.c -> safetensors -> llama2.c reproduces the original file.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/io/checkpoint.h"
#include "model/io/checkpoint_writer.h"
#include "model/io/llama2c_format.h"
#include "test_io_util.h"

namespace meshlm {
namespace {

namespace fs = std::filesystem;
using namespace test;

TEST(RandomModel, BothFormatsHoldTheSameWeights) {
  for (bool tied : {false, true}) {
    TempDir dir;
    const ModelConfig c = small_config({{"tie_word_embeddings", tied}});
    const MadeModel made = make_random_model(c, 21, dir.str());
    EXPECT_TRUE(made.llama2c_skipped.empty()) << made.llama2c_skipped;
    ASSERT_TRUE(fs::exists(dir / "model.bin"));
    const auto st = open_checkpoint(dir.str());
    const auto bin = open_checkpoint(dir / "model.bin");
    EXPECT_EQ(bin->config().hidden_size, c.hidden_size);
    EXPECT_EQ(bin->config().intermediate_size, c.intermediate_size);
    EXPECT_EQ(bin->config().num_kv_heads, c.num_kv_heads);
    EXPECT_EQ(bin->config().vocab_size, c.vocab_size);
    EXPECT_EQ(bin->config().max_position_embeddings, c.max_position_embeddings);
    EXPECT_EQ(bin->config().tie_word_embeddings, tied);
    expect_same_weights(*st, *bin);
    expect_same_weights(*synthetic_checkpoint(c, 21), *st);
    // llama2.c stores q rows in adjacent-pair order: HF row 1 of a head is file row 2.
    const std::string bytes = read_bytes(dir / "model.bin");
    const float* wq = reinterpret_cast<const float*>(bytes.data() + 28) +
                      c.vocab_size * c.hidden_size + c.num_layers * c.hidden_size;
    const std::vector<float> q = read_tensor_f32(*st, "model.layers.0.self_attn.q_proj.weight");
    const int64_t D = c.hidden_size, hd = c.head_dim;
    for (int64_t col = 0; col < D; ++col) {
      EXPECT_EQ(q[1 * D + col], wq[2 * D + col]);
      EXPECT_EQ(q[(hd / 2) * D + col], wq[1 * D + col]);
      EXPECT_EQ(q[(hd + hd / 2 + 1) * D + col], wq[(hd + 3) * D + col]);
    }
  }
}

TEST(RandomModel, Bf16WeightsAreRoundedOnceForBothFormats) {
  TempDir dir;
  const ModelConfig c = small_config();
  WriteOptions o;
  o.dtype = DType::bf16;
  make_random_model(c, 5, dir.str(), o);
  const auto st = open_checkpoint(dir.str());
  const auto bin = open_checkpoint(dir / "model.bin");
  expect_same_weights(*st, *bin);
  const auto src = synthetic_checkpoint(c, 5);
  const std::string name = "model.layers.1.mlp.down_proj.weight";
  const std::vector<float> exact = read_tensor_f32(*src, name), got = read_tensor_f32(*bin, name);
  for (size_t i = 0; i < exact.size(); ++i)
    ASSERT_EQ(got[i], bf16_to_float(float_to_bf16(exact[i])));
}

TEST(RandomModel, ModelsWithoutALlama2cFormSkipIt) {
  TempDir dir;
  const ModelConfig qwen = small_config({{"model_type", "qwen2"}});
  const MadeModel made = make_random_model(qwen, 1, dir.str());
  EXPECT_NE(made.llama2c_skipped.find("qwen2"), std::string::npos) << made.llama2c_skipped;
  EXPECT_FALSE(fs::exists(dir / "model.bin"));
  EXPECT_TRUE(open_checkpoint(dir.str())->has("model.layers.0.self_attn.q_proj.bias"));
  const auto st = open_checkpoint(dir.str());
  expect_error([&] { write_llama2c_checkpoint(*st, dir / "x.bin"); }, {"llama2.c", "qwen2"});
  const ModelConfig biased = small_config({{"attention_bias", true}});
  EXPECT_NE(llama2c_unrepresentable_reason(biased).find("bias"), std::string::npos);
  const ModelConfig wide = small_config({{"head_dim", 16}});  // 6 x 16 != 48
  EXPECT_NE(llama2c_unrepresentable_reason(wide).find("head_dim"), std::string::npos);
  const ModelConfig theta = small_config({{"rope_theta", 500000.0}});
  EXPECT_NE(llama2c_unrepresentable_reason(theta).find("rope_theta"), std::string::npos);
}

// stories260K.bin -> safetensors -> llama2.c gives back the original bytes
// (all but the unused RoPE tables, which the writer recomputes).
TEST(RandomModel, Llama2cThroughSafetensorsReproducesTheFile) {
  TempDir dir;
  const std::string original = read_bytes(testdata("stories260K.bin"));
  const auto bin = open_checkpoint(testdata("stories260K.bin"));
  write_safetensors_checkpoint(*bin, dir.str());
  const auto st = open_checkpoint(dir.str());
  expect_same_weights(*bin, *st);
  write_llama2c_checkpoint(*st, dir / "again.bin");
  const std::string again = read_bytes(dir / "again.bin");
  ASSERT_EQ(again.size(), original.size());
  const ModelConfig& c = bin->config();
  const size_t rope_bytes = 2 * c.max_position_embeddings * (c.head_dim / 2) * 4;
  const size_t before_rope = original.size() - rope_bytes;  // tied: nothing after the tables
  EXPECT_TRUE(original.compare(0, before_rope, again, 0, before_rope) == 0);
}

}  // namespace
}  // namespace meshlm

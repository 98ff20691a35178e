// llama2.c checkpoints: the real stories260K.bin opens with its config, every
// array is exposed under its HF name (q/k rows in rotate-half order), blocks
// equal slices of full tensors, and damaged files fail with clear errors.
#include <gtest/gtest.h>

#include <random>

#include "common/test_models.h"
#include "model/io/checkpoint.h"
#include "model/io/llama2c_format.h"
#include "sharding/units.h"
#include "test_io_util.h"

namespace meshlm {
namespace {

using namespace test;

constexpr int64_t V = 512, D = 64, L = 5, H = 8, K = 4, HD = 8, I = 172, SEQ = 512;

// The raw float32 arrays of the file, located by hand from docs/DESIGN.md §5.
struct RawStories {
  std::string bytes = read_bytes(testdata("stories260K.bin"));
  const float* floats() const { return reinterpret_cast<const float*>(bytes.data() + 28); }
  // Offsets in floats of each array (all layers stacked).
  int64_t embed = 0, rms_att = embed + V * D, wq = rms_att + L * D, wk = wq + L * H * HD * D,
          wv = wk + L * K * HD * D, wo = wv + L * K * HD * D, rms_ffn = wo + L * D * H * HD,
          w1 = rms_ffn + L * D, w2 = w1 + L * I * D, w3 = w2 + L * D * I,
          rms_final = w3 + L * I * D, end = rms_final + D + 2 * SEQ * HD / 2;
  float at(int64_t array, int64_t layer, int64_t per_layer, int64_t index) const {
    return floats()[array + layer * per_layer + index];
  }
};

TEST(Llama2cCheckpoint, OpensStories260KWithItsConfig) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  const ModelConfig& c = ckpt->config();
  test::expect_stories260k_shapes(c);
  EXPECT_FALSE(ckpt->has("lm_head.weight"));
  EXPECT_EQ(ckpt->tensor_names().size(), 2u + 9u * 5u);
  EXPECT_NE(ckpt->describe().find("stories260K.bin"), std::string::npos);
  EXPECT_EQ(ckpt->shape("model.layers.4.self_attn.k_proj.weight"), (Shape{32, 64}));
  EXPECT_EQ(ckpt->shape("model.layers.0.mlp.down_proj.weight"), (Shape{64, 172}));
  EXPECT_EQ(ckpt->stored_dtype("model.norm.weight"), DType::f32);
  // The file holds exactly the header and these arrays.
  RawStories raw;
  EXPECT_EQ(static_cast<int64_t>(raw.bytes.size()), 28 + 4 * raw.end);
}

TEST(Llama2cCheckpoint, ArraysAppearUnderHuggingFaceNames) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  RawStories raw;
  struct Case {
    std::string name;
    int64_t array, per_layer;
  };
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const Case& c : {Case{p + "input_layernorm.weight", raw.rms_att, D},
                          Case{p + "self_attn.v_proj.weight", raw.wv, K * HD * D},
                          Case{p + "self_attn.o_proj.weight", raw.wo, D * H * HD},
                          Case{p + "post_attention_layernorm.weight", raw.rms_ffn, D},
                          Case{p + "mlp.gate_proj.weight", raw.w1, I * D},
                          Case{p + "mlp.down_proj.weight", raw.w2, D * I},
                          Case{p + "mlp.up_proj.weight", raw.w3, I * D}}) {
      const std::vector<float> t = read_tensor_f32(*ckpt, c.name);
      ASSERT_EQ(static_cast<int64_t>(t.size()), c.per_layer) << c.name;
      for (int64_t i = 0; i < c.per_layer; ++i)
        ASSERT_EQ(t[i], raw.at(c.array, l, c.per_layer, i)) << c.name << " element " << i;
    }
  }
  const std::vector<float> embed = read_tensor_f32(*ckpt, "model.embed_tokens.weight");
  const std::vector<float> norm = read_tensor_f32(*ckpt, "model.norm.weight");
  for (int64_t i = 0; i < V * D; ++i) ASSERT_EQ(embed[i], raw.floats()[raw.embed + i]);
  for (int64_t i = 0; i < D; ++i) ASSERT_EQ(norm[i], raw.floats()[raw.rms_final + i]);
  // Trained weights, not zeros.
  double sq = 0;
  for (float v : embed) sq += v * v;
  EXPECT_GT(sq / embed.size(), 1e-4);
}

TEST(Llama2cCheckpoint, QueryAndKeyRowsAreInRotateHalfOrder) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  RawStories raw;
  // Per head of 8 rows, HF row j <- llama2.c row: 0,2,4,6 (first half), 1,3,5,7 (second half).
  const int64_t from[HD] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
    for (auto [name, array, heads] :
         {std::tuple{p + "q_proj.weight", raw.wq, H}, std::tuple{p + "k_proj.weight", raw.wk, K}}) {
      const std::vector<float> t = read_tensor_f32(*ckpt, name);
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t j = 0; j < HD; ++j)
          for (int64_t col = 0; col < D; ++col)
            ASSERT_EQ(t[(h * HD + j) * D + col],
                      raw.at(array, l, heads * HD * D, (h * HD + from[j]) * D + col))
                << name << " head " << h << " row " << j;
    }
  }
  // One row by hand: HF row 12 of q (head 1, j = 4) is llama2.c row 9 of layer 2.
  std::vector<float> row(D);
  ckpt->read_block("model.layers.2.self_attn.q_proj.weight", {12, 0}, {1, D}, DType::f32,
                   row.data());
  for (int64_t col = 0; col < D; ++col)
    EXPECT_EQ(row[col], raw.at(raw.wq, 2, H * HD * D, 9 * D + col));
}

// Every tensor: seeded random blocks (partial rows, partial heads, column
// ranges) equal the matching slice of the full tensor, in fp32 and bf16.
TEST(Llama2cCheckpoint, BlocksEqualSlicesOfTheFullTensor) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  std::mt19937_64 rng(12345);
  for (const std::string& name : ckpt->tensor_names()) {
    const Shape shape = ckpt->shape(name);
    const std::vector<float> full = read_tensor_f32(*ckpt, name);
    for (int trial = 0; trial < 6; ++trial) {
      Shape offset(shape.size()), block(shape.size());
      for (size_t d = 0; d < shape.size(); ++d) {
        offset[d] = std::uniform_int_distribution<int64_t>(0, shape[d] - 1)(rng);
        block[d] = std::uniform_int_distribution<int64_t>(1, shape[d] - offset[d])(rng);
        if (trial == 0) offset[d] = 0, block[d] = shape[d];
        if (trial == 1 && d > 0) offset[d] = 0, block[d] = shape[d];  // whole rows
      }
      const int64_t n = num_elements(block);
      std::vector<float> got(n);
      std::vector<uint16_t> got16(n);
      ckpt->read_block(name, offset, block, DType::f32, got.data());
      ckpt->read_block(name, offset, block, DType::bf16, got16.data());
      const int64_t cols = shape.size() == 2 ? shape[1] : 1;
      const int64_t bcols = shape.size() == 2 ? block[1] : 1;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = offset[0] + i / bcols;
        const int64_t c = (shape.size() == 2 ? offset[1] : 0) + i % bcols;
        const float want = full[r * cols + c];
        ASSERT_EQ(got[i], want) << name << " block " << shape_to_string(offset) << "+"
                                << shape_to_string(block) << " element " << i;
        ASSERT_EQ(got16[i], float_to_bf16(want).bits) << name << " element " << i;
      }
    }
  }
}

TEST(Llama2cCheckpoint, BadBlockReadsAreErrors) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  std::vector<float> buf(64 * 64);
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  expect_error(
      [&] {
        ckpt->read_block(q, {60, 0}, {8, 64}, DType::f32, buf.data());
      },
      {q, "out of range", "[64, 64]"});
  expect_error([&] { ckpt->read_block(q, {0}, {8}, DType::f32, buf.data()); }, {q, "dimensions"});
  expect_error(
      [&] {
        ckpt->read_block(q, {0, 0}, {8, 64}, DType::i8, buf.data());
      },
      {q, "fp32, bf16 or fp16"});
  expect_error(
      [&] {
        ckpt->read_block("lm_head.weight", {0, 0}, {1, 1}, DType::f32, buf.data());
      },
      {"lm_head.weight", "not in"});
  expect_error([&] { ckpt->shape("model.layers.5.mlp.up_proj.weight"); },
               {"model.layers.5.mlp.up_proj.weight"});
}

TEST(Llama2cCheckpoint, TruncatedFilesNameBothSizes) {
  TempDir dir;
  const std::string bytes = read_bytes(testdata("stories260K.bin"));
  for (size_t cut : {size_t{1}, size_t{4}, bytes.size() / 2, bytes.size() - 30}) {
    write_bytes(dir / "cut.bin", bytes.substr(0, bytes.size() - cut));
    expect_error(
        [&] { open_checkpoint(dir / "cut.bin"); },
        {"truncated", "cut.bin", format_count(bytes.size()), format_count(bytes.size() - cut)});
  }
  write_bytes(dir / "tiny.bin", bytes.substr(0, 20));
  expect_error([&] { open_checkpoint(dir / "tiny.bin"); }, {"truncated", "20 bytes", "header"});
}

TEST(Llama2cCheckpoint, TrailingDataIsAnError) {
  TempDir dir;
  const std::string bytes = read_bytes(testdata("stories260K.bin"));
  write_bytes(dir / "long.bin", bytes + std::string(8, '\0'));
  expect_error(
      [&] { open_checkpoint(dir / "long.bin"); },
      {"long.bin", "trailing", format_count(bytes.size() + 8), format_count(bytes.size())});
}

TEST(Llama2cCheckpoint, CorruptHeadersAreErrors) {
  TempDir dir;
  const std::string bytes = read_bytes(testdata("stories260K.bin"));
  auto with_field = [&](int field, int32_t value) {
    std::string b = bytes;
    std::memcpy(b.data() + 4 * field, &value, 4);
    write_bytes(dir / "bad.bin", b);
    return dir / "bad.bin";
  };
  expect_error([&] { open_checkpoint(with_field(0, 0)); }, {"bad.bin", "header", "dim 0"});
  expect_error([&] { open_checkpoint(with_field(2, -5)); }, {"bad.bin", "header", "n_layers -5"});
  // 7 heads do not divide dim 64: the config is rejected, naming the file.
  expect_error([&] { open_checkpoint(with_field(3, 7)); }, {"bad.bin", "n_heads 7"});
  // A header that does not match the data: one more layer, or an unshared classifier.
  expect_error([&] { open_checkpoint(with_field(2, 6)); }, {"bad.bin", "truncated", "n_layers 6"});
  expect_error([&] { open_checkpoint(with_field(5, -512)); },
               {"bad.bin", "truncated", "separate classifier"});
  expect_error([&] { open_checkpoint(with_field(1, 100)); },
               {"bad.bin", "trailing", "hidden_dim 100"});
}

TEST(Llama2cCheckpoint, MissingFileIsAnError) {
  expect_error([&] { open_checkpoint(testdata("no-such-model.bin")); },
               {"no-such-model.bin", "does not exist"});
}

// The header check alone (in memory, as fuzz_llama2c_header reads it): a
// 28-byte header of 38836 layers is "truncated", found without building
// its 430,000-tensor inventory.
TEST(Llama2cCheckpoint, HeaderAloneIsCheckedAgainstTheFileSize) {
  const int32_t header[7] = {1, 1, 38836, 1, 1, 1, 1};
  expect_error(
      [&] { llama2c_config(reinterpret_cast<const std::byte*>(header), sizeof header, "many.bin"); },
      {"many.bin", "truncated", "n_layers 38836", "28 bytes"});
  const std::string bytes = read_bytes(testdata("stories260K.bin"));
  const ModelConfig c =
      llama2c_config(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), "s.bin");
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.name, "s");
}

}  // namespace
}  // namespace meshlm

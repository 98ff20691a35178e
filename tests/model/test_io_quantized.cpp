// Pre-quantized checkpoints (model/io/quantized_checkpoint.h): written by
// mesh-model quantize, read back block by block as the device holds them
// (the same bytes as quantizing at load), dequantized on request, and refused
// with a clear message when the scales are missing, the file is truncated or
// the method is unknown.
#include "common/test_models.h"
#include "model/io/checkpoint_writer.h"
#include "model/io/quantized_checkpoint.h"
#include "model/ops/quant.h"
#include "test_io_util.h"

namespace meshlm::test {
namespace {

TEST(QuantizedCheckpoint, ReadsTheBlocksQuantizingAtLoadWouldMake) {
  const auto src = open_checkpoint(stories260k_path());
  for (DType t : {DType::i8, DType::i4}) {
    TempDir dir;
    write_quantized_checkpoint(*src, dir.str(), t, {});
    const auto q = open_checkpoint(dir.str());
    const std::string name = "model.layers.2.mlp.down_proj.weight";  // [64, 172]: a short block
    EXPECT_EQ(q->shape(name), (Shape{64, 172}));
    EXPECT_EQ(q->stored_dtype(name), t);
    EXPECT_EQ(q->stored_dtype("model.norm.weight"), DType::bf16);
    // Rows 3..9, columns 32..160 (whole blocks), and the tail 160..172.
    for (auto [c0, n] : {std::pair<int64_t, int64_t>{32, 128}, {160, 12}, {0, 172}}) {
      std::vector<std::byte> got(quant_matrix_bytes(t, 7, n)), want(got.size());
      q->read_block(name, {3, c0}, {7, n}, t, got.data());
      std::vector<float> f(static_cast<size_t>(7 * n));
      src->read_block(name, {3, c0}, {7, n}, DType::f32, f.data());
      quantize_matrix(f.data(), 7, n, n, t, want.data());
      EXPECT_EQ(got, want) << dtype_name(t) << " columns " << c0 << "+" << n;
      std::vector<float> deq(f.size());
      q->read_block(name, {3, c0}, {7, n}, DType::f32, deq.data());
      const QuantMatrix m = QuantMatrix::of(want.data(), t, 7, n);
      for (int64_t r = 0; r < 7; ++r)
        for (int64_t k = 0; k < n; ++k)
          ASSERT_EQ(deq[static_cast<size_t>(r * n + k)],
                    static_cast<float>(m.q(r, k)) * m.scale(r, k));
    }
    expect_error([&] { q->read_block(name, {0, 16}, {1, 32}, t, nullptr); }, {"cut a block of 32"});
  }
}

TEST(QuantizedCheckpoint, MissingScalesTruncatedFilesAndUnknownMethodsAreNamed) {
  const auto src = open_checkpoint(stories260k_path());
  TempDir dir;
  write_quantized_checkpoint(*src, dir.str(), DType::i8, {});
  const std::string file = dir / "model.safetensors";
  const std::string bytes = read_bytes(file);
  // Rename one ".scales" entry (same length, so offsets stay valid).
  std::string renamed = bytes;
  const std::string key = "model.layers.1.self_attn.v_proj.weight.scales";
  const size_t at = renamed.find(key);
  ASSERT_NE(at, std::string::npos);
  renamed.replace(at, key.size(), "model.layers.1.self_attn.v_proj.weight.scalez");
  write_bytes(file, renamed);
  expect_error([&] { open_checkpoint(dir.str()); },
               {"lacks 'model.layers.1.self_attn.v_proj.weight.scales'", "block scales"});
  write_bytes(file, bytes.substr(0, bytes.size() - 100));  // truncated
  expect_error([&] { open_checkpoint(dir.str()); }, {"model.safetensors"});
  write_bytes(file, bytes);
  auto config = nlohmann::json::parse(read_bytes(dir / "config.json"));
  config["quantization_config"]["quant_method"] = "gptq";
  write_bytes(dir / "config.json", config.dump());
  expect_error([&] { open_checkpoint(dir.str()); }, {"quant_method 'gptq' is not supported"});
}

}  // namespace
}  // namespace meshlm::test

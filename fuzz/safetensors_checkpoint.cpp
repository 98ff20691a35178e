// A whole safetensors checkpoint through the real open path
// (open_checkpoint: model/io/safetensors_checkpoint.cpp and
// stored_checkpoint.cpp — the header, the config check, pre-quantized
// folding, per-expert and MXFP4 layouts), then every tensor read whole.
// The input: one byte choosing the config.json beside the file (a small
// llama in bf16, the same pre-quantized int8, a mixtral, a gpt-oss with MXFP4
// experts), then model.safetensors, written to a temporary directory.
// With MESHLM_FUZZ_WRITE_SEEDS=<dir>, the files meshlm's writers make for
// the four configs are written there as seeds; with MESHLM_FUZZ_VERBOSE set,
// the error each input gives is printed.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fuzz_util.h"
#include "model/io/checkpoint.h"
#include "model/io/checkpoint_writer.h"
#include "model/io/quantized_checkpoint.h"
#include "sharding/error.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kConfigs = 4;
fs::path g_dir;  // <tmp>/<k>/config.json for each config k

json config_json(int k) {
  json j = {{"model_type", "llama"},   {"hidden_size", 8},       {"intermediate_size", 8},
            {"num_hidden_layers", 1},  {"num_attention_heads", 2}, {"num_key_value_heads", 1},
            {"vocab_size", 8},         {"max_position_embeddings", 8},
            {"tie_word_embeddings", k == 1}, {"torch_dtype", "bfloat16"}};
  if (k == 2) {
    j["model_type"] = "mixtral";
    j["num_local_experts"] = 2;
    j["num_experts_per_tok"] = 1;
  }
  if (k == 3) {  // MXFP4 blocks of 32 along the input dimension: D and I of 32
    j["model_type"] = "gpt_oss";
    j["hidden_size"] = 32;
    j["intermediate_size"] = 32;
    j["head_dim"] = 4;
    j["num_local_experts"] = 2;
    j["experts_per_token"] = 1;
  }
  return j;
}

void remove_dir() {
  std::error_code ec;
  fs::remove_all(g_dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace meshlm;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/meshlm-fuzz-XXXXXX";
  FUZZ_ASSERT(mkdtemp(pattern.data()) != nullptr);
  g_dir = pattern;
  std::atexit(remove_dir);
  const char* seeds = std::getenv("MESHLM_FUZZ_WRITE_SEEDS");
  for (int k = 0; k < kConfigs; ++k) {
    const fs::path d = g_dir / std::to_string(k);
    const ModelConfig c = ModelConfig::from_hf_json(config_json(k), "fuzz");
    const auto src = synthetic_checkpoint(c, 5);
    if (k == 1) {
      write_quantized_checkpoint(*src, d.string(), DType::i8, WriteOptions{});
    } else {
      WriteOptions o;
      o.dtype = DType::bf16;
      o.mxfp4 = k == 3;
      write_safetensors_checkpoint(*src, d.string(), o);
    }
    if (seeds) {
      std::ifstream in(d / "model.safetensors", std::ios::binary);
      std::ofstream out(fs::path(seeds) / ("written-" + std::to_string(k)), std::ios::binary);
      out << static_cast<char>(k) << in.rdbuf();
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  if (size < 1) return 0;
  const fs::path d = g_dir / std::to_string(data[0] % kConfigs);
  {
    std::ofstream out(d / "model.safetensors", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    const auto ckpt = open_checkpoint(d.string());
    for (const std::string& name : ckpt->tensor_names()) {
      const std::vector<float> v = read_tensor_f32(*ckpt, name);
      FUZZ_ASSERT(static_cast<int64_t>(v.size()) == num_elements(ckpt->shape(name)));
    }
  } catch (const Error& e) {
    static const bool verbose = std::getenv("MESHLM_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 0;
}

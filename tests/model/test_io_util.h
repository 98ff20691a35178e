// Helpers for the model I/O tests: temporary directories, raw file access,
// small model configs, checkpoint comparison.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "common/test_util.h"
#include "model/io/checkpoint.h"

namespace meshlm::test {

// A fresh directory under $TMPDIR, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "meshlm-io-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A small Llama-family HF config.json; `patch` overrides fields.
inline nlohmann::json small_config_json(const nlohmann::json& patch = nlohmann::json::object()) {
  nlohmann::json j = {{"model_type", "llama"},
                      {"hidden_size", 48},
                      {"intermediate_size", 80},
                      {"num_hidden_layers", 2},
                      {"num_attention_heads", 6},
                      {"num_key_value_heads", 2},
                      {"vocab_size", 100},
                      {"max_position_embeddings", 32},
                      {"tie_word_embeddings", false},
                      {"rms_norm_eps", 1e-5},
                      {"rope_theta", 10000.0},
                      {"torch_dtype", "float32"}};
  j.merge_patch(patch);
  return j;
}

inline ModelConfig small_config(const nlohmann::json& patch = nlohmann::json::object()) {
  return ModelConfig::from_hf_json(small_config_json(patch), "small");
}

// The same tensors, in the same order, with the same shapes and fp32 values.
inline void expect_same_weights(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensor_names(), b.tensor_names());
  for (const std::string& name : a.tensor_names()) {
    ASSERT_EQ(a.shape(name), b.shape(name)) << name;
    EXPECT_EQ(read_tensor_f32(a, name), read_tensor_f32(b, name)) << name;
  }
}

}  // namespace meshlm::test

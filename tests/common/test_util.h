// Helpers shared by the test folders: paths of tests/data, the message of an
// expected meshlm::Error, and a small Llama-family HF config.json.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sharding/error.h"

namespace meshlm::test {

// tests/data/<file> (MESHLM_TESTDATA_DIR is set by tests/CMakeLists.txt).
inline std::string testdata(const std::string& file) {
  return std::string(MESHLM_TESTDATA_DIR) + "/" + file;
}

// Runs f; the message of the meshlm::Error it throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Runs fn, expects a meshlm::Error whose message contains every fragment.
template <class Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected an error mentioning '" << fragments.front() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "error message lacks '" << f << "': " << msg;
  }
}

// A small Llama config.json (D 64, I 172, L 2, H 8, K 4, V 512, 256 positions):
// shapes that divide a 2x2 mesh, with I not divisible by 8.
inline nlohmann::json small_llama_json() {
  return {{"model_type", "llama"},    {"hidden_size", 64},
          {"intermediate_size", 172}, {"num_hidden_layers", 2},
          {"num_attention_heads", 8}, {"num_key_value_heads", 4},
          {"vocab_size", 512},        {"max_position_embeddings", 256}};
}

}  // namespace meshlm::test

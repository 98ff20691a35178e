// The real test model, tests/data/stories260K.bin (llama2.c format), and the
// configuration every reader of it must find.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "arch/model_config.h"
#include "arch/tensor_roles.h"
#include "common/test_util.h"

namespace meshlm::test {

inline std::string stories260k_path() {
  return testdata("stories260K.bin");
}

// stories260K's shapes: D 64, I 172, 5 layers, 8 heads, 4 KV heads of 8, V 512,
// 512 positions, lm_head tied to the embedding.
inline void expect_stories260k_shapes(const ModelConfig& c) {
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
}

}  // namespace meshlm::test

// The step message and results survive encode/decode field by field, and a
// cut message is caught rather than read past its end.
#include <gtest/gtest.h>

#include "serve/step.h"

namespace meshlm {
namespace {

TEST(ServeStep, MessagesRoundTrip) {
  StepMessage m;
  m.replicas.resize(2);
  SeqWork w;
  w.seq_id = 42;
  w.slot = 3;
  w.start_pos = 32;
  w.tokens = {7, 8, 9};
  w.block_table = {5, 1, 12};
  w.window_table = {3, 0};
  w.sample = true;
  w.num_generated = 4;
  w.sampling = {0.7f, 40, 0.9f};
  w.seed = 1234567890123ull;
  w.logprobs = 2;
  m.replicas[1].push_back(w);
  const StepMessage back = decode_step(encode(m));
  EXPECT_FALSE(back.shutdown);
  ASSERT_EQ(back.replicas.size(), 2u);
  EXPECT_TRUE(back.replicas[0].empty());
  ASSERT_EQ(back.replicas[1].size(), 1u);
  const SeqWork& b = back.replicas[1][0];
  EXPECT_EQ(b.seq_id, 42);
  EXPECT_EQ(b.slot, 3);
  EXPECT_EQ(b.start_pos, 32);
  EXPECT_EQ(b.tokens, w.tokens);
  EXPECT_EQ(b.block_table, w.block_table);
  EXPECT_EQ(b.window_table, w.window_table);
  EXPECT_TRUE(b.sample);
  EXPECT_EQ(b.num_generated, 4);
  EXPECT_EQ(b.sampling.temperature, 0.7f);
  EXPECT_EQ(b.sampling.top_k, 40);
  EXPECT_EQ(b.sampling.top_p, 0.9f);
  EXPECT_EQ(b.seed, w.seed);
  EXPECT_EQ(b.logprobs, 2);
  StepMessage bye;
  bye.shutdown = true;
  EXPECT_TRUE(decode_step(encode(bye)).shutdown);

  std::vector<SeqResult> rs = {{1, 5, -0.5f, {{5, -0.5f}, {9, -2.0f}}}, {2, 7, 0, {}}};
  const auto rb = decode_results(encode(rs));
  ASSERT_EQ(rb.size(), 2u);
  EXPECT_EQ(rb[0].seq_id, 1);
  EXPECT_EQ(rb[0].token, 5);
  EXPECT_EQ(rb[0].top.size(), 2u);
  EXPECT_EQ(rb[0].top[1].id, 9);
  EXPECT_EQ(rb[1].token, 7);
}

TEST(ServeStep, CutMessageIsCaught) {
  StepMessage m;
  m.replicas.resize(1);
  m.replicas[0].push_back(SeqWork{});
  auto bytes = encode(m);
  bytes.resize(bytes.size() - 3);
  EXPECT_DEATH(decode_step(bytes), "cut");
}

}  // namespace
}  // namespace meshlm

// Golden: the real stories260K checkpoint gives exactly the reference ids of
// tests/data/stories260K.greedy.json on every mesh of the job's ranks (1x1;
// 1x2, 2x1; 1x4, 2x2, 4x1), alone and inside a batch of different prompts
// split over dp (the other prompts' ids come from a single-device run).
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime_test_util.h"

namespace meshlm::test {
namespace {

GenerateOptions greedy(int64_t max_new_tokens) {
  GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.stop_ids = {1};  // the reference loop stops when it samples BOS
  return o;
}

TEST(RuntimeGolden, ReferenceIdsOnEveryMesh) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  const auto cases = golden_cases();
  ASSERT_FALSE(cases.empty());
  for (const std::string& shape : meshes_of_world()) {
    SCOPED_TRACE("mesh " + shape);
    Deployment d(MPI_COMM_WORLD, shape, *ckpt, 1, 512);
    for (const GoldenCase& c : cases) {
      // The reference runs positions 0 .. max_positions-1 and records one id
      // per position from len(prompt)-1 on: max_new_tokens = M - len + 1.
      const int64_t n = c.max_positions - static_cast<int64_t>(c.prompt.size()) + 1;
      ASSERT_EQ(static_cast<int64_t>(c.ids.size()), n) << "reference semantics changed";
      auto r = generate(*d.engine, *d.mesh, {c.prompt}, greedy(n));
      EXPECT_EQ(r.sequences[0].generated_ids, c.ids);
      // One token fewer: the same ids but the last.
      r = generate(*d.engine, *d.mesh, {c.prompt}, greedy(n - 1));
      EXPECT_EQ(r.sequences[0].generated_ids, std::vector<int32_t>(c.ids.begin(), c.ids.end() - 1));
    }
  }
}

TEST(RuntimeGolden, BatchOfDifferentPromptsSplitOverDp) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  const auto cases = golden_cases();
  // Different lengths; some stop early on BOS (finished sequences leave the batch).
  std::vector<std::vector<int32_t>> prompts = {
      {1, 461}, {1, 300, 400}, {1, 72, 101, 108}, {1, 500}, {1, 13, 431, 431, 293, 430, 417}};
  prompts.insert(prompts.begin() + 2, cases[0].prompt);
  // Long enough for a story to end: stories260K samples BOS after a story of
  // about 200 tokens, so some sequences finish while others run on.
  const int64_t n = 300;

  // Single device, all prompts in one batch (each rank computes it alone).
  Deployment one(MPI_COMM_SELF, "1x1", *ckpt, static_cast<int64_t>(prompts.size()), 512);
  const auto expected = generate(*one.engine, *one.mesh, prompts, greedy(n));
  const auto& with_reference = expected.sequences[2].generated_ids;
  ASSERT_GE(with_reference.size(), cases[0].ids.size());
  EXPECT_EQ(
      std::vector<int32_t>(with_reference.begin(),
                           with_reference.begin() + static_cast<ptrdiff_t>(cases[0].ids.size())),
      cases[0].ids);
  int64_t stopped = 0, total = 0;
  for (auto& s : expected.sequences) {
    stopped += s.finish == FinishReason::stop;
    total += static_cast<int64_t>(s.generated_ids.size());
  }
  EXPECT_GE(stopped, 1);  // the batch really mixes running and finished sequences
  EXPECT_GT(total, 3 * n);

  for (const std::string& shape : meshes_of_world()) {
    SCOPED_TRACE("mesh " + shape);
    // Also a prefill chunk shorter than some prompts: several passes per prompt.
    for (int64_t chunk : {int64_t{0}, int64_t{3}}) {
      Deployment d(MPI_COMM_WORLD, shape, *ckpt, static_cast<int64_t>(prompts.size()), 512,
                   DType::f32, DType::f32, chunk);
      const auto got = generate(*d.engine, *d.mesh, prompts, greedy(n));
      ASSERT_EQ(got.sequences.size(), prompts.size());
      for (size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ(got.sequences[i].prompt_ids, prompts[i]);
        EXPECT_EQ(got.sequences[i].generated_ids, expected.sequences[i].generated_ids)
            << "sequence " << i << ", prefill chunk " << chunk;
        EXPECT_EQ(got.sequences[i].finish, expected.sequences[i].finish);
      }
    }
  }
}

}  // namespace
}  // namespace meshlm::test

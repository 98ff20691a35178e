// Text end to end: every case of tests/data/stories260K.text.json (prompt
// text, positions run, the exact text the reference prints) reproduces
// exactly on every mesh of the job's ranks (1x1; 1x2, 2x1; 1x4, 2x2, 4x1),
// alone and as one batch of all cases split over dp.
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_models.h"
#include "model/io/tokenizer.h"
#include "runtime_test_util.h"

namespace meshlm::test {
namespace {

struct TextCase {
  std::string prompt;
  int64_t steps;  // positions the reference runs, prompt included
  std::string text;
};

std::vector<TextCase> text_cases() {
  std::ifstream f(testdata("stories260K.text.json"));
  const auto j = nlohmann::json::parse(f);
  std::vector<TextCase> out;
  for (auto& c : j)
    out.push_back({c.at("prompt").get<std::string>(), c.at("steps").get<int64_t>(),
                   c.at("text").get<std::string>()});
  return out;
}

const Tokenizer& tokenizer() {
  static const Tokenizer t = Tokenizer::load(testdata("stories260K-tokenizer.bin"), 512);
  return t;
}

// Positions 0 .. steps-1 record one id each from len(prompt)-1 on.
int64_t new_tokens(const TextCase& c, const std::vector<int32_t>& prompt) {
  return c.steps - static_cast<int64_t>(prompt.size()) + 1;
}

// What the reference prints: the prompt, then the continuation.
std::string printed(const std::vector<int32_t>& prompt, const std::vector<int32_t>& generated) {
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  return tokenizer().decode(all, -1);
}

GenerateOptions greedy(int64_t max_new_tokens) {
  GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.stop_ids = {1};  // the reference stops when it samples BOS
  return o;
}

TEST(RuntimeText, EveryCaseOnEveryMesh) {
  const auto ckpt = open_checkpoint(stories260k_path());
  const auto cases = text_cases();
  ASSERT_EQ(cases.size(), 3u);
  for (const std::string& shape : meshes_of_world()) {
    SCOPED_TRACE("mesh " + shape);
    Deployment d(MPI_COMM_WORLD, shape, *ckpt, 1, 512);
    for (const TextCase& c : cases) {
      const auto prompt = tokenizer().encode(c.prompt);
      const auto r = generate(*d.engine, *d.mesh, {prompt}, greedy(new_tokens(c, prompt)));
      EXPECT_EQ(printed(prompt, r.sequences[0].generated_ids), c.text)
          << "prompt '" << c.prompt << "'";
    }
  }
}

TEST(RuntimeText, AllCasesAsOneBatchSplitOverDp) {
  const auto ckpt = open_checkpoint(stories260k_path());
  const auto cases = text_cases();
  std::vector<std::vector<int32_t>> prompts;
  int64_t longest = 0;
  for (const TextCase& c : cases) {
    prompts.push_back(tokenizer().encode(c.prompt));
    longest = std::max(longest, new_tokens(c, prompts.back()));
  }
  for (const std::string& shape : meshes_of_world()) {
    SCOPED_TRACE("mesh " + shape);
    Deployment d(MPI_COMM_WORLD, shape, *ckpt, static_cast<int64_t>(prompts.size()), 512);
    // One run as long as the longest case: greedy ids do not depend on how far
    // a run goes, so each case's text is its first new_tokens ids.
    const auto r = generate(*d.engine, *d.mesh, prompts, greedy(longest));
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& ids = r.sequences[i].generated_ids;
      const auto n = static_cast<size_t>(new_tokens(cases[i], prompts[i]));
      ASSERT_GE(ids.size(), n) << "case " << i;
      EXPECT_EQ(printed(prompts[i], {ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n)}),
                cases[i].text)
          << "case " << i;
    }
  }
}

}  // namespace
}  // namespace meshlm::test

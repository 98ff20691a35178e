// Checks `mesh-run generate --json` output against the reference texts of
// tests/data/stories260K.text.json: every reference case must appear among
// the sequences (matched by prompt text; the empty prompt is prompt ids [1]),
// and the prompt followed by the case's first (steps - len(prompt) + 1)
// generated ids must decode to exactly the reference text. With --stdout, the
// captured output of a single streamed sequence must contain its JSON prompt +
// text as printed while streaming.
//   text_check CASES.json TOKENIZER GENERATE.json [STDOUT.txt]
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/io/tokenizer.h"

namespace {

std::string read_file(const char* path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(std::string("cannot open ") + path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

int check(int argc, char** argv) {
  const bool all = argc == 5 && std::string(argv[4]) == "--all";
  const bool streamed = argc == 6 && std::string(argv[4]) == "--streamed";
  if (!all && !streamed) {
    std::fprintf(stderr,
                 "usage: text_check CASES.json TOKENIZER GENERATE.json (--all | --streamed "
                 "STDOUT.txt)\n");
    return 2;
  }
  const auto cases = nlohmann::json::parse(read_file(argv[1]));
  const auto tok = meshlm::Tokenizer::load(argv[2], 512);
  const auto run = nlohmann::json::parse(read_file(argv[3]));
  const auto& seqs = run.at("sequences");
  int failures = 0, matched = 0;
  for (const auto& c : cases) {
    const std::string prompt = c.at("prompt"), want = c.at("text");
    for (const auto& s : seqs) {
      if (s.at("prompt").get<std::string>() != prompt) continue;
      ++matched;
      auto ids = s.at("prompt_ids").get<std::vector<int32_t>>();
      const auto gen = s.at("generated_ids").get<std::vector<int32_t>>();
      const size_t n = static_cast<size_t>(c.at("steps").get<int64_t>()) - ids.size() + 1;
      if (gen.size() < n) {
        std::fprintf(stderr, "prompt '%s': %zu ids generated, the reference has %zu\n",
                     prompt.c_str(), gen.size(), n);
        ++failures;
        continue;
      }
      ids.insert(ids.end(), gen.begin(), gen.begin() + static_cast<ptrdiff_t>(n));
      const std::string got = tok.decode(ids, -1);
      std::printf("prompt '%s': %s\n", prompt.c_str(),
                  got == want ? "the reference text" : "DIFFERS");
      if (got != want) {
        std::fprintf(stderr, "  got:  %s\n  want: %s\n", got.c_str(), want.c_str());
        ++failures;
      }
      const auto prompt_ids = s.at("prompt_ids").get<std::vector<int32_t>>();
      if (s.at("text").get<std::string>() != tok.decode(gen, prompt_ids.back())) {
        std::fprintf(stderr, "prompt '%s': the JSON text is not the decoded generated ids\n",
                     prompt.c_str());
        ++failures;
      }
    }
  }
  if (matched == 0 || (all && matched != static_cast<int>(cases.size()))) {
    std::fprintf(stderr, "%d of %zu reference cases have a sequence with their prompt\n", matched,
                 cases.size());
    ++failures;
  }
  if (streamed) {
    if (seqs.size() != 1) throw std::runtime_error("--stdout needs a run of one sequence");
    const std::string out = read_file(argv[5]);
    const std::string streamed =
        seqs[0].at("prompt").get<std::string>() + seqs[0].at("text").get<std::string>();
    const size_t at = out.find("\n" + streamed + "\n\n");
    std::printf("streamed text %s the JSON prompt + text\n",
                at == std::string::npos ? "DIFFERS FROM" : "equals");
    if (at == std::string::npos) {
      std::fprintf(stderr, "output:\n%s\nJSON prompt + text:\n%s\n", out.c_str(), streamed.c_str());
      ++failures;
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return check(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "text_check: %s\n", e.what());
    return 1;
  }
}

// The llama2.c tokenizer: the reference encoder's ids for every case of
// llama2-tokenizer.encode.json, exact round trips, the decode rules, and
// errors for missing/short/foreign files and ids out of range.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "model/io/tokenizer.h"
#include "test_io_util.h"

namespace meshlm {
namespace {

using namespace test;

constexpr int64_t kVocab = 32000;

const Tokenizer& llama2() {
  static const Tokenizer t = Tokenizer::load(testdata("llama2-tokenizer.bin"), kVocab);
  return t;
}

TEST(Tokenizer, EncodesLikeTheReferenceAndRoundTrips) {
  const nlohmann::json cases =
      nlohmann::json::parse(read_bytes(testdata("llama2-tokenizer.encode.json")));
  ASSERT_GE(cases.size(), 5u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    const std::vector<int32_t> want = c["ids_with_bos"].get<std::vector<int32_t>>();
    EXPECT_EQ(llama2().encode(text), want) << "text: " << text;
    EXPECT_EQ(llama2().decode(want), text);
    std::vector<int32_t> no_bos(want.begin() + 1, want.end());
    EXPECT_EQ(llama2().encode(text, false), no_bos);
  }
}

TEST(Tokenizer, Basics) {
  const Tokenizer& t = llama2();
  EXPECT_EQ(t.vocab_size(), kVocab);
  EXPECT_EQ(t.piece(Tokenizer::kBos), "\n<s>\n");
  EXPECT_EQ(t.piece(3 + 'A'), "<0x41>");
  EXPECT_EQ(t.encode(""), std::vector<int32_t>{1});
  EXPECT_EQ(t.encode("", false), std::vector<int32_t>{});
  const std::vector<int32_t> with_eos = t.encode("Hello world", true, true);
  EXPECT_EQ(with_eos.back(), Tokenizer::kEos);
  EXPECT_EQ(with_eos.size(), 4u);
}

TEST(Tokenizer, DecodeFollowsTheReferenceRules) {
  const Tokenizer& t = llama2();
  const int32_t hello = t.encode("Hello", false)[0];  // " Hello"
  EXPECT_EQ(t.piece(hello), " Hello");
  EXPECT_EQ(t.decode(Tokenizer::kBos, hello), "Hello");  // leading space dropped after BOS
  EXPECT_EQ(t.decode(hello, hello), " Hello");
  EXPECT_EQ(t.decode(hello, 3 + 0x41), "A");  // <0x41> is the raw byte
  EXPECT_EQ(t.decode(hello, 3 + 0xF0), std::string(1, '\xF0'));
  EXPECT_EQ(t.decode(hello, 3 + 0x0A), "\n");
  // Bytes without a piece of their own (an invalid UTF-8 byte) fall back to
  // byte tokens and decode back to the same bytes.
  const std::string odd =
      "a\xFF"
      "b";
  const std::vector<int32_t> ids = t.encode(odd);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 0xFF + 3), ids.end());
  EXPECT_EQ(t.decode(ids), odd);
  // A continuation: the prev token is the prompt's last.
  const std::vector<int32_t> two = t.encode("Hello world", false);
  EXPECT_EQ(t.decode(std::vector<int32_t>{two[1]}, two[0]), " world");
}

// A literal port of the reference encoder (llama2.c run.c: quadratic merge
// loop over string concatenations) to cross-check the incremental one.
std::vector<int32_t> reference_encode(const Tokenizer& t, const std::map<std::string, int32_t>& ids,
                                      const std::string& text) {
  auto lookup = [&](const std::string& s) {
    auto it = ids.find(s);
    return it == ids.end() ? -1 : it->second;
  };
  std::vector<int32_t> tokens = {1};
  if (!text.empty()) tokens.push_back(lookup(" "));
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    if ((c & 0xC0) != 0x80) buf.clear();
    buf += static_cast<char>(c);
    if (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80 &&
        buf.size() < 4)
      continue;
    const int32_t id = lookup(buf);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (unsigned char b : buf) tokens.push_back(b + 3);
    }
    buf.clear();
  }
  for (;;) {
    float best_score = -1e10f;
    int best_id = -1, best_idx = -1;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int32_t id = lookup(t.piece(tokens[i]) + t.piece(tokens[i + 1]));
      if (id != -1 && t.score(id) > best_score) {
        best_score = t.score(id);
        best_id = id;
        best_idx = static_cast<int>(i);
      }
    }
    if (best_idx == -1) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + best_idx + 1);
  }
  return tokens;
}

TEST(Tokenizer, MatchesTheReferenceAlgorithmOnRandomTexts) {
  const Tokenizer& t = llama2();
  std::map<std::string, int32_t> ids;
  for (int32_t i = kVocab - 1; i >= 0; --i) ids[t.piece(i)] = i;  // first id wins
  const std::vector<std::string> atoms = {
      "the", " ",    "  ", "cat",  "Once", " upon", "ing", ",",    ".",  "\n", "\t", "é", "ï",
      "😀",   "日本", "ß",  "\xFF", "\x80", "1",     "23",  "Lily", "'s", "-",  "ä",  "ü"};
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    const int n = std::uniform_int_distribution<int>(0, 25)(rng);
    for (int i = 0; i < n; ++i)
      text += atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
    const std::vector<int32_t> got = t.encode(text);
    ASSERT_EQ(got, reference_encode(t, ids, text)) << "text: " << text;
    ASSERT_EQ(t.decode(got), text);
  }
}

TEST(Tokenizer, BadFilesAndIdsAreErrors) {
  expect_error([] { Tokenizer::load(testdata("no-such-tokenizer.bin"), kVocab); },
               {"no-such-tokenizer.bin", "cannot open"});
  expect_error([] { Tokenizer::load(testdata("llama2-tokenizer.bin"), kVocab + 1); },
               {"llama2-tokenizer.bin", "has 32000 tokens", "vocabulary has 32001"});
  // The tokenizer of a larger model (a 512-token model must not use it).
  expect_error([] { Tokenizer::load(testdata("llama2-tokenizer.bin"), 512); },
               {"llama2-tokenizer.bin", "has 32000 tokens", "vocabulary has 512",
                "belongs to another model"});
  TempDir dir;
  const std::string bytes = read_bytes(testdata("llama2-tokenizer.bin"));
  write_bytes(dir / "cut.bin", bytes.substr(0, bytes.size() - 1));
  expect_error([&] { Tokenizer::load(dir / "cut.bin", kVocab); },
               {"cut.bin", "too short", "ends inside token 31999", "vocabulary has 32000 tokens"});
  write_bytes(dir / "two.bin", bytes.substr(0, 2));
  expect_error([&] { Tokenizer::load(dir / "two.bin", kVocab); }, {"two.bin", "header"});
  std::string corrupt = bytes;
  const int32_t bad_len = 1 << 20;
  std::memcpy(corrupt.data() + 8, &bad_len, 4);  // length of token 0
  write_bytes(dir / "corrupt.bin", corrupt);
  expect_error([&] { Tokenizer::load(dir / "corrupt.bin", kVocab); },
               {"corrupt.bin", "token 0", "length"});

  const Tokenizer& t = llama2();
  expect_error(
      [&] {
        t.decode(std::vector<int32_t>{1, 32000});
      },
      {"token id 32000", "32000 tokens"});
  expect_error([&] { t.decode(1, -1); }, {"token id -1"});
  expect_error([&] { t.piece(40000); }, {"token id 40000"});
}

// The bytes of a tokenizer.bin holding `pieces` (scores 0, -1, -2, ...).
std::string tokenizer_file(const std::vector<std::string>& pieces) {
  auto i32 = [](int32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  std::string out = i32(8);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const float score = -static_cast<float>(i);
    out += std::string(reinterpret_cast<const char*>(&score), 4);
    out += i32(static_cast<int32_t>(pieces[i].size())) + pieces[i];
  }
  return out;
}

// Found by fuzz_tokenizer_load (fuzz/corpus/tokenizer_load/crash-no-byte-tokens):
// a byte with no piece fell back to the byte token <0xXX> = id byte + 3 even
// when the vocabulary has no such id, and merging then read past its pieces.
TEST(Tokenizer, ByteWithoutAByteTokenIsAnError) {
  const Tokenizer t = Tokenizer::parse(tokenizer_file({"<unk>", "<s>", "</s>", "a"}), 4, "four.bin");
  EXPECT_EQ(t.encode(""), (std::vector<int32_t>{1}));
  // No piece for the dummy-prefix space, and no <0x20> (id 35).
  expect_error([&] { t.encode("a"); },
               {"four.bin", "cannot encode", "no byte token <0x20>", "id 35", "4 tokens"});
  // BOS and EOS are ids 1 and 2: a smaller vocabulary cannot hold them.
  expect_error([] { Tokenizer::parse(tokenizer_file({"<unk>", "<s>"}), 2, "two.bin"); },
               {"two.bin", "vocabulary has 2 tokens", "fewer than the 3"});
}

// Found by fuzz_tokenizer_encode on long inputs (a 20 KB text took 5 s): the
// merge loop rescanned every pair per merge, O(n²), so one long prompt kept
// a server thread busy for hours. Long texts now encode in O(n log n) with
// the reference's merges.
TEST(Tokenizer, LongTextsGiveTheReferenceMerges) {
  const Tokenizer& t = llama2();
  std::map<std::string, int32_t> ids;
  for (int32_t i = 0; i < kVocab; ++i) ids.emplace(t.piece(i), i);
  std::mt19937 rng(7);
  const std::vector<std::string> atoms = {"the", " ", "a", "aa", "ab", "ba", "\n", "é", "€", "🙂",
                                          "ing", " th", "e", "."};
  std::string text;
  while (text.size() < 3000)
    text += atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
  EXPECT_EQ(t.encode(text), reference_encode(t, ids, text));
  std::string book;  // 1 MB: hours for an O(n²) merge loop, a second here
  while (book.size() < (1u << 20)) book += text;
  const std::vector<int32_t> got = t.encode(book);
  EXPECT_EQ(t.decode(got), book);
  EXPECT_LT(got.size(), book.size());
}

}  // namespace
}  // namespace meshlm

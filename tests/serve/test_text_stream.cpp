// A completion's text as tokens arrive: stop strings across token
// boundaries, what is held back, whole UTF-8 characters.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "serve/text_stream.h"

namespace meshlm {
namespace {

// The ids of pieces of the stories260K tokenizer, found by text.
struct Pieces {
  Tokenizer tok = Tokenizer::load(test::testdata("stories260K-tokenizer.bin"), 512);
  std::vector<int32_t> ids(const std::string& text) const {
    auto v = tok.encode(text, /*bos=*/false);
    return v;
  }
};

TEST(TextStream, StopStringAcrossTokensCutsTheTextBeforeIt) {
  Pieces p;
  const auto ids = p.ids("Once upon a time there was a cat");
  TextStream s(&p.tok, 1, {"a time", "zzz"});
  std::string streamed;
  bool stopped = false;
  for (int32_t id : ids) {
    stopped = s.push(id);
    streamed += s.take_ready();
    if (stopped) break;
  }
  ASSERT_TRUE(stopped);
  streamed += s.take_rest();
  EXPECT_EQ(s.text(), "Once upon ");
  EXPECT_EQ(streamed, "Once upon ");
}

TEST(TextStream, HoldsBackWhatCouldStartAStopString) {
  Pieces p;
  TextStream s(&p.tok, 1, {"XYZW"});  // 4 bytes: the last 3 wait
  for (int32_t id : p.ids("Hello world")) s.push(id);
  EXPECT_EQ(s.text(), "Hello world");
  EXPECT_EQ(s.take_ready(), "Hello wo");
  EXPECT_EQ(s.take_ready(), "");
  EXPECT_EQ(s.take_rest(), "rld");
  // Without stop strings everything is ready at once.
  TextStream all(&p.tok, 1, {});
  for (int32_t id : p.ids("Hello")) all.push(id);
  EXPECT_EQ(all.take_ready(), "Hello");
}

TEST(TextStream, NeverSplitsAUtf8Character) {
  const std::string s =
      "a\xC3\xA9"
      "b\xE2\x82\xAC";  // a é b €
  EXPECT_EQ(utf8_complete_prefix(s, 1), 1u);
  EXPECT_EQ(utf8_complete_prefix(s, 2), 1u);  // é cut after its lead byte
  EXPECT_EQ(utf8_complete_prefix(s, 3), 3u);
  EXPECT_EQ(utf8_complete_prefix(s, 5), 4u);  // € cut
  EXPECT_EQ(utf8_complete_prefix(s, 6), 4u);
  EXPECT_EQ(utf8_complete_prefix(s, 7), 7u);
  // Byte tokens <0xC3> <0xA9> (ids byte + 3) arrive one at a time.
  Pieces p;
  TextStream t(&p.tok, 1, {});
  t.push(0xC3 + 3);
  EXPECT_EQ(t.take_ready(), "");
  t.push(0xA9 + 3);
  EXPECT_EQ(t.take_ready(), "\xC3\xA9");
}

TEST(TextStream, WithoutATokenizerThereIsNoText) {
  TextStream s(nullptr, 1, {"a"});
  EXPECT_FALSE(s.push(5));
  EXPECT_EQ(s.text(), "");
  EXPECT_EQ(s.take_rest(), "");
}

}  // namespace
}  // namespace meshlm

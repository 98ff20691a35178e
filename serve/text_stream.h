// A completion's text as its tokens arrive: incremental detokenization,
// OpenAI stop strings (the text ends before the first one; it is not
// included) and what may be streamed already — never the start of what
// could still become a stop string, never half a UTF-8 character.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/io/tokenizer.h"

namespace meshlm {

class TextStream {
 public:
  // `tokenizer` may be null (then every token's text is ""); `prev` is the
  // last prompt token (the decoder drops a leading space after BOS).
  TextStream(const Tokenizer* tokenizer, int32_t prev, std::vector<std::string> stop);

  // The text of `token` following the previous one ("" without a tokenizer).
  std::string piece(int32_t token) const;
  // Appends a generated token. Returns true when a stop string is complete:
  // the text is then cut where it begins and nothing more may be pushed.
  bool push(int32_t token);
  bool stopped() const { return stopped_; }
  const std::string& text() const { return text_; }

  // The text not yet taken that may be sent now.
  std::string take_ready();
  // All the text not yet taken (at the end of the completion).
  std::string take_rest();

 private:
  const Tokenizer* tokenizer_;
  int32_t prev_;
  std::vector<std::string> stop_;
  size_t max_stop_ = 0;
  std::string text_;
  size_t sent_ = 0;     // bytes of text_ handed out
  size_t checked_ = 0;  // stop strings cannot start before this (minus max_stop_ - 1)
  bool stopped_ = false;
};

// The length of the longest prefix of s[0, n) that ends on a whole UTF-8
// character (an incomplete multi-byte sequence at the end is left out).
size_t utf8_complete_prefix(const std::string& s, size_t n);

}  // namespace meshlm

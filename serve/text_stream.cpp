#include "serve/text_stream.h"

#include <algorithm>

#include "sharding/error.h"

namespace meshlm {

TextStream::TextStream(const Tokenizer* tokenizer, int32_t prev, std::vector<std::string> stop)
    : tokenizer_(tokenizer), prev_(prev), stop_(std::move(stop)) {
  for (const std::string& s : stop_) max_stop_ = std::max(max_stop_, s.size());
}

std::string TextStream::piece(int32_t token) const {
  return tokenizer_ ? std::string(tokenizer_->decode(prev_, token)) : std::string();
}

bool TextStream::push(int32_t token) {
  MESHLM_CHECK(!stopped_, "token pushed after a stop string");
  text_ += piece(token);
  prev_ = token;
  if (max_stop_ == 0) return false;
  const size_t from = checked_ >= max_stop_ - 1 ? checked_ - (max_stop_ - 1) : 0;
  size_t cut = std::string::npos;
  for (const std::string& s : stop_) cut = std::min(cut, text_.find(s, from));
  checked_ = text_.size();
  if (cut == std::string::npos) return false;
  text_.resize(cut);
  stopped_ = true;
  return true;
}

size_t utf8_complete_prefix(const std::string& s, size_t n) {
  // Find the lead byte of the last character and whether it is complete.
  size_t i = n;
  int back = 0;
  while (i > 0 && back < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++back;
  }
  if (i == 0) return n;
  const auto lead = static_cast<unsigned char>(s[i - 1]);
  const int len = lead < 0x80         ? 1
                  : (lead >> 5) == 6  ? 2
                  : (lead >> 4) == 14 ? 3
                  : (lead >> 3) == 30 ? 4
                                      : 1;
  return back + 1 >= len ? n : i - 1;
}

std::string TextStream::take_ready() {
  // Hold back what could be the start of a stop string.
  size_t end = text_.size();
  if (!stopped_ && max_stop_ > 0) end = end >= max_stop_ - 1 ? end - (max_stop_ - 1) : 0;
  end = utf8_complete_prefix(text_, end);
  if (end <= sent_) return {};
  std::string out = text_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

std::string TextStream::take_rest() {
  std::string out = sent_ < text_.size() ? text_.substr(sent_) : std::string();
  sent_ = text_.size();
  return out;
}

}  // namespace meshlm

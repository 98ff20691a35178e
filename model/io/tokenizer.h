// Tokenizer: the llama2.c tokenizer.bin format and its reference BPE encoder
// and decoder. Pieces use a plain space where SentencePiece uses '▁'. File
// format and encode/decode rules: docs/DESIGN.md §5.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace meshlm {

class Tokenizer {
 public:
  static constexpr int32_t kBos = 1;
  static constexpr int32_t kEos = 2;

  // Reads `path`, which must hold exactly `vocab_size` tokens (the model's
  // vocabulary size; the file does not store its count). Errors name the file:
  // missing, corrupt or cut inside an entry, or holding another number of
  // tokens (the tokenizer of another model: both counts are named).
  static Tokenizer load(const std::string& path, int64_t vocab_size);
  // The same on the bytes of a whole tokenizer file (in memory); `path`
  // names it in errors.
  static Tokenizer parse(std::string_view data, int64_t vocab_size, const std::string& path);

  int64_t vocab_size() const { return static_cast<int64_t>(pieces_.size()); }
  const std::string& piece(int32_t id) const;  // throws for an id out of range
  float score(int32_t id) const;
  int32_t max_token_length() const { return max_token_length_; }

  // The reference encoder: BOS when `bos`, the dummy-prefix space when the
  // text is non-empty, one piece per UTF-8 code point (else byte tokens
  // <0xXX> = byte + 3), then greedy merging of the adjacent pair with the
  // best-scoring merged piece; EOS when `eos`. Throws when the vocabulary
  // lacks the byte token a byte falls back to (fewer than 259 tokens).
  std::vector<int32_t> encode(std::string_view text, bool bos = true, bool eos = false) const;

  // The text of `token` following `prev_token` (the reference decode): the
  // leading space is dropped after BOS, <0xXX> pieces become the raw byte.
  std::string_view decode(int32_t prev_token, int32_t token) const;
  // The text of a sequence; `prev_token` precedes ids[0]. BOS and EOS give no
  // text. Throws naming any id out of range.
  std::string decode(std::span<const int32_t> ids, int32_t prev_token = kBos) const;

 private:
  int32_t lookup(std::string_view piece) const;  // -1 when absent
  void check_id(int32_t id) const;

  std::string path_;
  int32_t max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> ids_;
  char byte_chars_[256] = {};
};

}  // namespace meshlm

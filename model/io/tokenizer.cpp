#include "model/io/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <queue>

#include "sharding/device_spec.h"
#include "sharding/error.h"

namespace meshlm {

Tokenizer Tokenizer::load(const std::string& path, int64_t vocab_size) {
  if (vocab_size <= 0)
    MESHLM_FAIL("tokenizer " << path << ": vocab_size " << vocab_size << " is not positive");
  check_regular_file(path, "tokenizer");
  std::ifstream f(path, std::ios::binary);
  if (!f) MESHLM_FAIL("cannot open tokenizer " << path << ": " << std::strerror(errno));
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse(data, vocab_size, path);
}

Tokenizer Tokenizer::parse(std::string_view data, int64_t vocab_size, const std::string& path) {
  // Ids 0, 1 and 2 are <unk>, BOS and EOS in every llama2.c vocabulary.
  if (vocab_size <= kEos)
    MESHLM_FAIL("tokenizer " << path << ": the model's vocabulary has " << vocab_size
                             << " tokens, fewer than the 3 a tokenizer needs (<unk>, BOS, EOS)");
  // The file does not store its token count: read entries until it ends, then
  // compare the count with the model's vocabulary.
  size_t pos = 0;
  auto read = [&](void* dst, size_t n, int64_t token) {
    if (data.size() - pos < n)
      MESHLM_FAIL("tokenizer " << path << " is too short: it ends "
                               << (token < 0 ? std::string("in its header")
                                             : "inside token " + std::to_string(token))
                               << " (" << data.size() << " bytes); the model's vocabulary has "
                               << vocab_size << " tokens");
    std::memcpy(dst, data.data() + pos, n);
    pos += n;
  };
  Tokenizer t;
  t.path_ = path;
  read(&t.max_token_length_, 4, -1);
  if (t.max_token_length_ <= 0 || t.max_token_length_ > (1 << 20))
    MESHLM_FAIL("tokenizer " << path << " has a corrupt header: max_token_length "
                             << t.max_token_length_);
  // Each entry is at least 8 bytes: this bounds the count by the file's size.
  t.pieces_.reserve(std::min<size_t>(data.size() / 8, static_cast<size_t>(vocab_size)));
  for (int64_t i = 0; pos < data.size(); ++i) {
    float score = 0;
    int32_t len = 0;
    read(&score, 4, i);
    read(&len, 4, i);
    if (len < 0 || len > t.max_token_length_)
      MESHLM_FAIL("tokenizer " << path << " is corrupt: token " << i << " has length " << len
                               << " (max_token_length " << t.max_token_length_ << ")");
    std::string piece(static_cast<size_t>(len), '\0');
    read(piece.data(), piece.size(), i);
    t.scores_.push_back(score);
    t.pieces_.push_back(std::move(piece));
  }
  if (t.vocab_size() != vocab_size)
    MESHLM_FAIL("tokenizer " << path << " has " << t.vocab_size()
                             << " tokens, but the model's vocabulary has " << vocab_size
                             << ": it belongs to another model (each model needs its own "
                                "tokenizer, e.g. stories260K-tokenizer.bin for stories260K, "
                                "llama2-tokenizer.bin for Llama 2 models)");
  // Like the reference's bsearch over the sorted vocabulary, keep one id per piece (the first).
  for (int64_t i = 0; i < vocab_size; ++i) t.ids_.emplace(t.pieces_[i], static_cast<int32_t>(i));
  for (int b = 0; b < 256; ++b) t.byte_chars_[b] = static_cast<char>(b);
  return t;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    MESHLM_FAIL("token id " << id << " is out of range for the vocabulary of " << vocab_size()
                            << " tokens of tokenizer " << path_);
}

const std::string& Tokenizer::piece(int32_t id) const {
  check_id(id);
  return pieces_[id];
}

float Tokenizer::score(int32_t id) const {
  check_id(id);
  return scores_[id];
}

int32_t Tokenizer::lookup(std::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int32_t> tokens;
  if (bos) tokens.push_back(kBos);  // in range: parse() requires ids 0..2
  // The reference appends the piece of " " (the dummy prefix) without
  // checking; byte fallback keeps tiny vocabularies without it well-defined.
  auto push_piece = [&](std::string_view s) {
    const int32_t id = lookup(s);
    if (id >= 0) {
      tokens.push_back(id);
      return;
    }
    for (unsigned char c : s) {
      const int32_t byte_id = static_cast<int32_t>(c) + 3;  // <0xXX>
      if (byte_id >= vocab_size()) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "<0x%02X>", c);
        MESHLM_FAIL("tokenizer " << path_ << " cannot encode the text: it has no piece for "
                                 << (s.size() == 1 ? "a byte" : "a character")
                                 << " of it and no byte token " << hex << " (id " << byte_id
                                 << "; its vocabulary has " << vocab_size() << " tokens)");
      }
      tokens.push_back(byte_id);
    }
  };
  if (!text.empty()) push_piece(" ");
  // One piece per UTF-8 code point (a lead byte plus at most 3 continuation bytes).
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    while (i + len < text.size() && len < 4 &&
           (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80)
      ++len;
    push_piece(text.substr(i, len));
    i += len;
  }
  // Greedy merging, as the reference: repeatedly the adjacent pair whose
  // joined piece is in the vocabulary with the best score above -1e10, the
  // leftmost among equals. The reference rescans every pair per merge, O(n²)
  // in the text's length (hours for a long prompt); here the tokens are a
  // linked list (a merge keeps the left node, so node order stays text
  // order) and a heap holds candidate pairs, each checked when popped against
  // the pair its left node has now: O(n log n), the same merges.
  constexpr size_t kNone = static_cast<size_t>(-1);
  const size_t n = tokens.size();
  std::vector<size_t> next(n), prev(n);
  std::vector<char> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : kNone;
    prev[i] = i > 0 ? i - 1 : kNone;
  }
  std::string buf;
  auto pair_id = [&](size_t left, size_t right) {
    buf = pieces_[tokens[left]];
    buf += pieces_[tokens[right]];
    return lookup(buf);
  };
  struct Candidate {
    float score;
    size_t left, right;
    int32_t id;
  };
  auto after = [](const Candidate& a, const Candidate& b) {  // b is merged first
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(after)> heap(after);
  auto consider = [&](size_t left) {
    if (left == kNone || next[left] == kNone) return;
    const int32_t id = pair_id(left, next[left]);
    if (id >= 0 && scores_[id] > -1e10f) heap.push({scores_[id], left, next[left], id});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    if (!alive[c.left] || next[c.left] != c.right || pair_id(c.left, c.right) != c.id)
      continue;  // a pair that no longer exists
    tokens[c.left] = c.id;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.left] != kNone) prev[next[c.left]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i)
    if (alive[i]) tokens[kept++] = tokens[i];
  tokens.resize(kept);
  if (eos) tokens.push_back(kEos);
  return tokens;
}

std::string_view Tokenizer::decode(int32_t prev_token, int32_t token) const {
  std::string_view p = piece(token);
  if (prev_token == kBos && !p.empty() && p[0] == ' ') p.remove_prefix(1);
  // "<0xXX>": a raw byte.
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
  };
  if (p.size() == 6 && p.substr(0, 3) == "<0x" && p[5] == '>' && hex(p[3]) >= 0 && hex(p[4]) >= 0)
    return std::string_view(&byte_chars_[hex(p[3]) * 16 + hex(p[4])], 1);
  return p;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, int32_t prev_token) const {
  std::string out;
  for (int32_t id : ids) {
    check_id(id);
    if (id != kBos && id != kEos) out += decode(prev_token, id);
    prev_token = id;
  }
  return out;
}

}  // namespace meshlm

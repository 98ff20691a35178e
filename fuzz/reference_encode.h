// The llama2.c reference encoder, written plainly (rescanning every pair per
// merge, O(n²)) through Tokenizer's public API: the fuzz targets compare
// Tokenizer::encode with it on every input they encode.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/io/tokenizer.h"

namespace meshlm::fuzz {

// piece -> its first id, as the reference's bsearch over the sorted vocabulary.
inline std::unordered_map<std::string, int32_t> piece_ids(const Tokenizer& t) {
  std::unordered_map<std::string, int32_t> ids;
  for (int32_t i = 0; i < t.vocab_size(); ++i) ids.emplace(t.piece(i), i);
  return ids;
}

// The ids of BOS, the dummy-prefix space (for non-empty text) and `text`;
// false when a byte has neither a piece nor a byte token in the vocabulary.
inline bool reference_encode(const Tokenizer& t,
                             const std::unordered_map<std::string, int32_t>& ids,
                             std::string_view text, std::vector<int32_t>& tokens) {
  auto lookup = [&](const std::string& s) {
    auto it = ids.find(s);
    return it == ids.end() ? -1 : it->second;
  };
  tokens = {Tokenizer::kBos};
  auto push = [&](const std::string& piece) {
    if (const int32_t id = lookup(piece); id >= 0) {
      tokens.push_back(id);
      return true;
    }
    for (unsigned char b : piece) {
      if (b + 3 >= t.vocab_size()) return false;
      tokens.push_back(b + 3);
    }
    return true;
  };
  if (!text.empty() && !push(" ")) return false;
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    while (i + len < text.size() && len < 4 &&
           (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80)
      ++len;
    if (!push(std::string(text.substr(i, len)))) return false;
    i += len;
  }
  for (;;) {
    float best_score = -1e10f;
    int32_t best_id = -1;
    size_t best = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int32_t id = lookup(t.piece(tokens[i]) + t.piece(tokens[i + 1]));
      if (id >= 0 && t.score(id) > best_score) {
        best_score = t.score(id);
        best_id = id;
        best = i;
      }
    }
    if (best_id < 0) return true;
    tokens[best] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
}

}  // namespace meshlm::fuzz

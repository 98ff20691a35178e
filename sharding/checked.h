// Checked size arithmetic. Every product or sum of sizes that comes from a
// file or a flag (tensor shapes, config dimensions, batch x sequence length,
// byte counts) goes through these, so a hostile number is an error naming
// what was being sized and both operands — never a wrapped value that
// under-allocates or a bad_alloc without context (docs/DESIGN.md §9).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "sharding/error.h"

namespace meshlm {

// The largest single dimension (tensor extent, sequence length, batch, vocab)
// any file or flag may give: int32, as llama2.c headers and the kernels' row
// counts are.
constexpr int64_t kMaxDimension = INT32_MAX;

[[noreturn]] void size_overflow(std::string_view what, int64_t a, char op, int64_t b);

// a * b and a + b for non-negative a, b; throw "<what>: a x b overflows int64".
inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) size_overflow(what, a, 'x', b);
  return r;
}
inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) size_overflow(what, a, '+', b);
  return r;
}
inline uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > static_cast<uint64_t>(INT64_MAX))
    size_overflow(what, static_cast<int64_t>(a > INT64_MAX ? INT64_MAX : a), 'x',
                  static_cast<int64_t>(b > INT64_MAX ? INT64_MAX : b));
  return r;
}
inline uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r) || r > static_cast<uint64_t>(INT64_MAX))
    size_overflow(what, static_cast<int64_t>(a > INT64_MAX ? INT64_MAX : a), '+',
                  static_cast<int64_t>(b > INT64_MAX ? INT64_MAX : b));
  return r;
}

// The product of `sizes` (each >= 0), checked.
int64_t checked_product(std::span<const int64_t> sizes, std::string_view what);
inline int64_t checked_product(std::initializer_list<int64_t> sizes, std::string_view what) {
  return checked_product(std::span<const int64_t>(sizes.begin(), sizes.size()), what);
}

// Throws "<what> is <v> (expected 1..<max>)" unless 1 <= v <= max.
void check_range(int64_t v, int64_t max, std::string_view what);

}  // namespace meshlm

// Shared by the fuzz targets (fuzz/*.cpp): each defines LLVMFuzzerTestOneInput,
// built either as a libFuzzer binary (-DMESHLM_FUZZ=ON, clang) or with
// replay_main.cpp as a regression test over fuzz/corpus/<target>/.
//
// The expected outcome of bad input is a meshlm::Error (or, for the server's
// protocol, an ApiError), which the targets catch; anything else — a crash,
// a sanitizer report, an exception of another type, an allocation the input
// does not justify, a hang — is a finding. FUZZ_ASSERT states a property
// of what a parser accepted; it aborts, so a violation is a finding too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_ASSERT(cond)                                                                   \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "fuzz assertion failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace meshlm::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads every byte of [p, p + n): out-of-bounds ranges become sanitizer reports.
inline void touch(const std::byte* p, uint64_t n) {
  volatile unsigned sum = 0;
  for (uint64_t i = 0; i < n; ++i) sum = sum + static_cast<unsigned>(p[i]);
  (void)sum;
}

}  // namespace meshlm::fuzz

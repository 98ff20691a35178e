// Counter-based hashing for reproducible pseudo-random streams (sampling
// RNG seeds, synthetic weights, benchmark data): splitmix64 and FNV-1a.
#pragma once

#include <cstdint>
#include <string>

namespace meshlm {

inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;

// splitmix64's finaliser: a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One step of splitmix64 from state x: mix64(x + golden gamma).
inline uint64_t splitmix64(uint64_t x) {
  return mix64(x + kGoldenGamma);
}

// FNV-1a of a string (64-bit).
inline uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace meshlm

#include "model/ops/sampling.h"

#include <cmath>
#include <cstring>

#include "sharding/hash.h"

namespace meshlm {

namespace {

// Bit pattern of a non-negative float: monotonic in its value.
uint32_t bits_of(float p) {
  uint32_t b;
  std::memcpy(&b, &p, 4);
  return b;
}

// The largest bit pattern b such that keep(b) holds, where keep is monotone
// (true for small b, false for large b) and keep(0) is true.
template <class Keep>
uint32_t largest_threshold(Keep keep) {
  uint32_t lo = 0, hi = 0x7f800001u;  // keep(lo) true; keep(hi) false (above +inf)
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (keep(mid))
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

}  // namespace

Rng Rng::for_sequence(uint64_t seed, uint64_t index) {
  return Rng(splitmix64(splitmix64(seed) ^ (index * 0xd1b54a32d192ed03ull)));
}

uint32_t Rng::next_u32() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

float Rng::next_f32() {
  return static_cast<float>(next_u32() >> 8) / 16777216.0f;
}

int32_t argmax(const LogitsView& l) {
  int64_t best = 0;
  float best_val = l.at(0);
  for (int64_t s = 0; s < l.shards; ++s) {
    const float* d = l.data + s * l.shard_stride;
    for (int64_t j = 0; j < l.shard_len; ++j)
      if (d[j] > best_val) {
        best_val = d[j];
        best = s * l.shard_len + j;
      }
  }
  return static_cast<int32_t>(best);
}

int32_t sample(const LogitsView& l, const SamplingParams& p, Rng& rng) {
  if (p.temperature <= 0.0f || p.top_k == 1) return argmax(l);
  const int64_t V = l.vocab();
  auto for_each = [&](auto&& f) {
    for (int64_t s = 0; s < l.shards; ++s) {
      float* d = l.data + s * l.shard_stride;
      for (int64_t j = 0; j < l.shard_len; ++j) f(s * l.shard_len + j, d[j]);
    }
  };
  // Probabilities: softmax(logits / temperature), in place.
  float max_val = -INFINITY;
  for_each([&](int64_t, float& x) {
    x /= p.temperature;
    if (x > max_val) max_val = x;
  });
  float sum = 0.0f;
  for_each([&](int64_t, float& x) {
    x = expf(x - max_val);
    sum += x;
  });
  for_each([&](int64_t, float& x) { x /= sum; });

  // Cuts as thresholds on the probability (exact k-th largest / nucleus
  // boundary found by bisection over the float's bit pattern; no sorting, so
  // no scratch memory).
  uint32_t cut = 0;
  if (p.top_k > 1 && p.top_k < V) {
    cut = largest_threshold([&](uint32_t b) {
      int64_t count = 0;
      for_each([&](int64_t, float& x) { count += bits_of(x) >= b; });
      return count >= p.top_k;
    });
  }
  if (p.top_p > 0.0f && p.top_p < 1.0f) {
    float kept = 0.0f;
    for_each([&](int64_t, float& x) { kept += bits_of(x) >= cut ? x : 0.0f; });
    const float target = p.top_p * kept;
    const uint32_t k_cut = cut;
    cut = largest_threshold([&](uint32_t b) {
      const uint32_t t = b > k_cut ? b : k_cut;
      float mass = 0.0f;
      for_each([&](int64_t, float& x) { mass += bits_of(x) >= t ? x : 0.0f; });
      return mass >= target;
    });
    if (cut < k_cut) cut = k_cut;
  }
  float mass = 0.0f;
  for_each([&](int64_t, float& x) { mass += bits_of(x) >= cut ? x : 0.0f; });
  const float coin = rng.next_f32() * mass;
  float cdf = 0.0f;
  int64_t chosen = -1, last_kept = 0;
  for_each([&](int64_t v, float& x) {
    if (chosen >= 0 || bits_of(x) < cut) return;
    cdf += x;
    last_kept = v;
    if (coin < cdf) chosen = v;
  });
  return static_cast<int32_t>(chosen >= 0 ? chosen : last_kept);
}

}  // namespace meshlm

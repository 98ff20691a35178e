#include "model/ops/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#if defined(__AVX512F__)
// GCC 12 reports its own _mm512_undefined_* placeholders inside the
// intrinsics as uninitialized (GCC bug 105593): silence that, for the header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include "sharding/error.h"

namespace meshlm {
namespace {

// Sum of `count` floats (count a multiple of 64), four independent chains so
// the adds never limit the stream.
float stream_sum(const float* p, uint64_t count) {
#if defined(__AVX512F__)
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (uint64_t i = 0; i < count; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#else
  float acc[64] = {};
  for (uint64_t i = 0; i < count; i += 64)
    for (int l = 0; l < 64; ++l) acc[l] += p[i + l];
  float s = 0;
  for (float v : acc) s += v;
  return s;
#endif
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(uint64_t buffer_bytes) {
  if (buffer_bytes < (uint64_t{1} << 20))
    MESHLM_FAIL("memory bandwidth probe: buffer of " << buffer_bytes
                                                     << " B is too small (expected >= 1 MiB)");
  count_ = buffer_bytes / 256 * 64;
  data_ = static_cast<float*>(std::aligned_alloc(64, count_ * 4));
  if (!data_) MESHLM_FAIL("memory bandwidth probe: cannot allocate " << count_ * 4 << " B");
  for (uint64_t i = 0; i < count_; ++i) data_[i] = static_cast<float>(i & 1023) * 0.5f;
}

ReadBandwidthProbe::~ReadBandwidthProbe() {
  std::free(data_);
}

double ReadBandwidthProbe::pass() {
  const auto t0 = std::chrono::steady_clock::now();
  sink_ += stream_sum(data_, count_);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Keep the sum observable so the pass cannot be optimised away.
  asm volatile("" : : "r"(&sink_) : "memory");
  return s;
}

MemBwResult measure_read_bandwidth(const MemBwOptions& o) {
  if (o.repeats < 1 || o.warmup < 0)
    MESHLM_FAIL("memory bandwidth probe: repeats " << o.repeats << " and warmup " << o.warmup
                                                   << " (expected repeats >= 1, warmup >= 0)");
  ReadBandwidthProbe probe(o.buffer_bytes);
  for (int w = 0; w < o.warmup; ++w) probe.pass();
  MemBwResult r;
  r.buffer_bytes = probe.bytes();
  for (int i = 0; i < o.repeats; ++i) r.seconds.push_back(probe.pass());
  std::vector<double> s = r.seconds;
  std::sort(s.begin(), s.end());
  const double med = s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
  r.median_bytes_per_s = static_cast<double>(r.buffer_bytes) / med;
  r.best_bytes_per_s = static_cast<double>(r.buffer_bytes) / s.front();
  return r;
}

}  // namespace meshlm

#include "model/ops/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "model/ops/avx512.h"
#include "sharding/error.h"

namespace meshlm {
namespace {

// Sum of `count` floats (a multiple of 256) read as four concurrent
// sequential streams, one per quarter of the buffer: like a GEMV reading
// several weight rows at once, it keeps more lines in flight than a single
// stream does (measured: 5-10% more bandwidth), so the probe's figure is the
// higher, more demanding reference.
float stream_sum(const float* p, uint64_t count) {
  const uint64_t q = count / 4;
#if defined(__AVX512F__)
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (uint64_t i = 0; i < q; i += 16) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + q + i));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + 2 * q + i));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + 3 * q + i));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#else
  float acc[4][16] = {};
  for (uint64_t i = 0; i < q; i += 16)
    for (int s = 0; s < 4; ++s)
      for (int l = 0; l < 16; ++l) acc[s][l] += p[s * q + i + l];
  float sum = 0;
  for (const auto& a : acc)
    for (float v : a) sum += v;
  return sum;
#endif
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(uint64_t buffer_bytes) {
  if (buffer_bytes < (uint64_t{1} << 20))
    MESHLM_FAIL("memory bandwidth probe: buffer of " << buffer_bytes
                                                     << " B is too small (expected >= 1 MiB)");
  count_ = buffer_bytes / 1024 * 256;
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

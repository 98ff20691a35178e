#include "model/ops/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

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

MemBwResult measure_read_bandwidth(const MemBwOptions& o) {
  if (o.buffer_bytes < (uint64_t{1} << 20))
    MESHLM_FAIL("memory bandwidth probe: buffer of " << o.buffer_bytes
                                                     << " B is too small (expected >= 1 MiB)");
  if (o.repeats < 1 || o.warmup < 0)
    MESHLM_FAIL("memory bandwidth probe: repeats " << o.repeats << " and warmup " << o.warmup
                                                   << " (expected repeats >= 1, warmup >= 0)");
  const uint64_t count = o.buffer_bytes / 256 * 64;  // floats, a multiple of 64
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> buf(static_cast<float*>(std::aligned_alloc(64, count * 4)));
  if (!buf) MESHLM_FAIL("memory bandwidth probe: cannot allocate " << count * 4 << " B");
  float* p = buf.get();
  for (uint64_t i = 0; i < count; ++i) p[i] = static_cast<float>(i & 1023) * 0.5f;

  volatile float sink = 0;
  for (int w = 0; w < o.warmup; ++w) sink = sink + stream_sum(p, count);
  MemBwResult r;
  r.buffer_bytes = count * 4;
  for (int i = 0; i < o.repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    sink = sink + stream_sum(p, count);
    r.seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> s = r.seconds;
  std::sort(s.begin(), s.end());
  const double med = s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
  r.median_bytes_per_s = static_cast<double>(r.buffer_bytes) / med;
  r.best_bytes_per_s = static_cast<double>(r.buffer_bytes) / s.front();
  return r;
}

}  // namespace meshlm

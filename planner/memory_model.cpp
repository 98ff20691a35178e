#include "planner/memory_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

uint64_t Reserve::for_capacity(uint64_t capacity) const {
  if (bytes) return *bytes;
  return static_cast<uint64_t>(std::llround(fraction * static_cast<double>(capacity)));
}

std::string Reserve::describe() const {
  if (bytes) return format_bytes(static_cast<double>(*bytes)) + " (" + format_count(*bytes) + " B)";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g%% of device memory", fraction * 100);
  return buf;
}

Reserve Reserve::parse(const std::string& text) {
  Reserve r;
  if (!text.empty() && text.back() == '%') {
    char* end = nullptr;
    const double pct = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() - 1 || pct < 0 || pct >= 100)
      MESHLM_FAIL("bad reserve '" << text << "' (expected a percentage in [0, 100), e.g. 10%)");
    r.fraction = pct / 100;
    return r;
  }
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() + text.size() && text.find('.') != std::string::npos) {
    if (v < 0 || v >= 1) MESHLM_FAIL("bad reserve '" << text << "' (a fraction must be in [0, 1))");
    r.fraction = v;
    return r;
  }
  r.bytes = parse_bytes(text);
  return r;
}

MemoryBreakdown memory_for(const ModelConfig& c, const MeshLayout& layout, const MemorySettings& s,
                           int64_t batch_local, int64_t seq_len) {
  const ActivationShape shape = activation_shape(batch_local, seq_len, s.prefill_chunk);
  MemoryBreakdown m;
  m.capacity = s.capacity;
  m.weights = layout.weight_bytes;
  m.kv_cache = kv_cache_bytes(c, layout.local.kv_heads, batch_local, seq_len, s.kv_dtype);
  m.activations = activation_bytes(c, layout.local, shape);
  m.comm = comm_buffer_bytes(c, layout.mp, shape);
  m.reserve = s.reserve.for_capacity(s.capacity);
  return m;
}

int64_t max_batch_local(const ModelConfig& c, const MeshLayout& layout, const MemorySettings& s,
                        int64_t seq_len) {
  auto fits = [&](int64_t b) { return memory_for(c, layout, s, b, seq_len).fits(); };
  if (!fits(1)) return 0;
  int64_t lo = 1, hi = 2;  // fits(lo), find !fits(hi)
  while (fits(hi)) {
    lo = hi;
    if (hi > (int64_t{1} << 40)) return hi;  // unbounded in practice
    hi *= 2;
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

int64_t max_seq_len(const ModelConfig& c, const MeshLayout& layout, const MemorySettings& s,
                    int64_t batch_local, int64_t limit) {
  auto fits = [&](int64_t S) { return memory_for(c, layout, s, batch_local, S).fits(); };
  if (limit < 1 || !fits(1)) return 0;
  if (fits(limit)) return limit;
  int64_t lo = 1, hi = limit;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace meshlm

#include "collectives/stats.h"

#include "sharding/units.h"

namespace meshlm {

void CollectiveStats::record(const std::string& op, uint64_t bytes, double seconds) {
  CollectiveCounter& c = counters_[op];
  c.calls += 1;
  c.bytes += bytes;
  c.seconds += seconds;
}

double CollectiveStats::total_seconds() const {
  double s = 0;
  for (const auto& [op, c] : counters_) s += c.seconds;
  return s;
}

uint64_t CollectiveStats::total_calls() const {
  uint64_t n = 0;
  for (const auto& [op, c] : counters_) n += c.calls;
  return n;
}

uint64_t CollectiveStats::total_bytes() const {
  uint64_t n = 0;
  for (const auto& [op, c] : counters_) n += c.bytes;
  return n;
}

std::string CollectiveStats::summary() const {
  std::string s;
  for (const auto& [op, c] : counters_) {
    if (!s.empty()) s += "; ";
    s += op + ": " + format_count(c.calls) + " calls, " +
         format_bytes(static_cast<double>(c.bytes)) + ", " + format_seconds(c.seconds);
  }
  return s;
}

CollectiveStats& collective_stats() {
  static CollectiveStats stats;
  return stats;
}

}  // namespace meshlm

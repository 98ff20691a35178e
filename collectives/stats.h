// Per-collective statistics (calls, bytes, seconds) kept by every collective
// call on this rank, for reports ("share of time in collectives").
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace meshlm {

struct CollectiveCounter {
  uint64_t calls = 0;
  uint64_t bytes = 0;  // payload bytes this rank contributed (count * element size)
  double seconds = 0;
};

class CollectiveStats {
 public:
  void record(const std::string& op, uint64_t bytes, double seconds);
  const std::map<std::string, CollectiveCounter>& counters() const { return counters_; }
  double total_seconds() const;
  uint64_t total_calls() const;
  void reset() { counters_.clear(); }

 private:
  std::map<std::string, CollectiveCounter> counters_;
};

// This rank's statistics.
CollectiveStats& collective_stats();

}  // namespace meshlm

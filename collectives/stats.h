// Per-collective statistics (calls, bytes, seconds) kept by every collective
// call on this rank, for reports ("share of time in collectives"). Keys are the
// op names ("all_reduce", "all_gather", "reduce_scatter", "broadcast",
// "all_to_all"); calls through the plain-MPI backend count under "<op>[mpi]".
// Bytes are this rank's payload: count * element size for all_reduce,
// all_gather and broadcast, g.size * count * element size for reduce_scatter
// and all_to_all.
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
  uint64_t total_bytes() const;
  // "all_reduce: 12 calls, 1.50 MiB, 3.2 ms; ..." (empty when nothing ran).
  std::string summary() const;
  void reset() { counters_.clear(); }

 private:
  std::map<std::string, CollectiveCounter> counters_;
};

// This rank's statistics.
CollectiveStats& collective_stats();

}  // namespace meshlm

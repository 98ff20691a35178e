// Memory-read bandwidth probe: how fast ONE core streams memory it only reads
// — the ceiling of bandwidth-bound decode (weights streamed once per step).
#pragma once

#include <cstdint>
#include <vector>

namespace meshlm {

struct MemBwOptions {
  uint64_t buffer_bytes = uint64_t{1} << 30;  // much larger than the last-level cache
  int warmup = 1;                             // untimed passes after first touch
  int repeats = 5;                            // timed passes
};

struct MemBwResult {
  uint64_t buffer_bytes = 0;
  std::vector<double> seconds;  // one per timed pass
  double median_bytes_per_s = 0;
  double best_bytes_per_s = 0;
};

// Streams (sums) a buffer of options.buffer_bytes with the calling thread:
// allocates and touches it (so page faults are not timed), runs the warm-up
// passes, then times each repeat. Throws meshlm::Error for a buffer smaller
// than 1 MiB, repeats < 1 or a failed allocation.
MemBwResult measure_read_bandwidth(const MemBwOptions& options = {});

}  // namespace meshlm

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

// A buffer to stream: allocated and touched once (page faults are not
// timed), then read in full by each pass() — so a benchmark can interleave
// passes with the work it measures and both see the same machine load.
class ReadBandwidthProbe {
 public:
  // Throws meshlm::Error for fewer than 1 MiB or a failed allocation.
  explicit ReadBandwidthProbe(uint64_t buffer_bytes);
  ~ReadBandwidthProbe();
  ReadBandwidthProbe(const ReadBandwidthProbe&) = delete;
  ReadBandwidthProbe& operator=(const ReadBandwidthProbe&) = delete;

  double pass();  // streams the whole buffer once; returns the seconds it took
  uint64_t bytes() const { return count_ * 4; }

 private:
  float* data_ = nullptr;
  uint64_t count_ = 0;  // floats, a multiple of 256
  float sink_ = 0;
};

// Streams (sums) a buffer of options.buffer_bytes with the calling thread:
// allocates and touches it (so page faults are not timed), runs the warm-up
// passes, then times each repeat. Throws meshlm::Error for a buffer smaller
// than 1 MiB, repeats < 1 or a failed allocation.
MemBwResult measure_read_bandwidth(const MemBwOptions& options = {});

}  // namespace meshlm

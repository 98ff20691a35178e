// Memory-read bandwidth probe: shape of its result and its input checks (no
// timing assertions: the figures themselves are mesh-bench's business).
#include <gtest/gtest.h>

#include "model/ops/membw.h"
#include "sharding/error.h"

namespace meshlm {
namespace {

TEST(MemBw, MeasuresEveryRepeat) {
  MemBwOptions o;
  o.buffer_bytes = (8u << 20) + 100;  // rounded down to whole KiB
  o.warmup = 1;
  o.repeats = 3;
  const MemBwResult r = measure_read_bandwidth(o);
  EXPECT_EQ(r.buffer_bytes, 8u << 20);
  ASSERT_EQ(r.seconds.size(), 3u);
  for (double s : r.seconds) EXPECT_GT(s, 0.0);
  EXPECT_GT(r.median_bytes_per_s, 0.0);
  EXPECT_GE(r.best_bytes_per_s, r.median_bytes_per_s);
}

TEST(MemBw, RejectsBadOptions) {
  MemBwOptions small;
  small.buffer_bytes = 4096;
  EXPECT_THROW(measure_read_bandwidth(small), Error);
  MemBwOptions none;
  none.buffer_bytes = 1u << 20;
  none.repeats = 0;
  EXPECT_THROW(measure_read_bandwidth(none), Error);
}

}  // namespace
}  // namespace meshlm

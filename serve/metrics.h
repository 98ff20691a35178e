// Prometheus text-format metrics of the server (GET /metrics): counters,
// gauges and histograms with fixed buckets. Thread-safe: the serving loop
// and the HTTP handlers both record.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace meshlm {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double x);
  // "name_bucket{le=...} n" lines, _sum and _count (labels: e.g. `replica="0"`).
  void write(std::string& out, const std::string& name) const;
  double quantile(double q) const;  // from the buckets (upper bound of q's bucket)
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // [bounds + 1], the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Latency buckets in seconds, 1 ms .. 60 s.
std::vector<double> latency_buckets();

struct ServerMetrics {
  std::mutex m;
  std::map<int, uint64_t> requests_by_status;  // HTTP status -> count
  uint64_t prompt_tokens = 0, generation_tokens = 0, preemptions = 0;
  Histogram ttft{latency_buckets()}, itl{latency_buckets()}, step{latency_buckets()},
      e2e{latency_buckets()};
  double busy_s = 0, collective_s = 0;  // rank 0's seconds stepping / in collectives
  // Per dp replica, set by the loop each step.
  std::vector<int64_t> running, waiting, blocks_used, blocks_free;
  int64_t prefix_queried = 0, prefix_hits = 0;

  std::string prometheus();  // locks
};

}  // namespace meshlm

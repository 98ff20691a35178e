#include "serve/metrics.h"

#include <algorithm>
#include <cstdio>

namespace meshlm {

void Histogram::observe(double x) {
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), x) - bounds_.begin());
  ++counts_[i];
  sum_ += x;
  ++count_;
}

namespace {
std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}
}  // namespace

void Histogram::write(std::string& out, const std::string& name) const {
  out += "# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cum += counts_[i];
    const std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cum) + "\n";
  }
  out += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

double Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const double want = q * static_cast<double>(count_);
  uint64_t cum = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cum += counts_[i];
    if (static_cast<double>(cum) >= want) return i < bounds_.size() ? bounds_[i] : bounds_.back();
  }
  return bounds_.back();
}

std::vector<double> latency_buckets() {
  return {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 60};
}

std::string ServerMetrics::prometheus() {
  std::lock_guard lock(m);
  std::string out;
  out += "# TYPE meshlm_requests_total counter\n";
  for (const auto& [status, n] : requests_by_status)
    out += "meshlm_requests_total{status=\"" + std::to_string(status) + "\"} " + std::to_string(n) +
           "\n";
  auto gauge = [&](const std::string& name, const std::vector<int64_t>& v) {
    out += "# TYPE " + name + " gauge\n";
    for (size_t r = 0; r < v.size(); ++r)
      out += name + "{replica=\"" + std::to_string(r) + "\"} " + std::to_string(v[r]) + "\n";
  };
  gauge("meshlm_num_requests_running", running);
  gauge("meshlm_num_requests_waiting", waiting);
  gauge("meshlm_kv_blocks_used", blocks_used);
  gauge("meshlm_kv_blocks_free", blocks_free);
  auto counter = [&](const std::string& name, double v) {
    out += "# TYPE " + name + " counter\n" + name + " " + num(v) + "\n";
  };
  counter("meshlm_prompt_tokens_total", static_cast<double>(prompt_tokens));
  counter("meshlm_generation_tokens_total", static_cast<double>(generation_tokens));
  counter("meshlm_preemptions_total", static_cast<double>(preemptions));
  counter("meshlm_prefix_cache_queries_total", static_cast<double>(prefix_queried));
  counter("meshlm_prefix_cache_hits_total", static_cast<double>(prefix_hits));
  ttft.write(out, "meshlm_time_to_first_token_seconds");
  itl.write(out, "meshlm_inter_token_latency_seconds");
  e2e.write(out, "meshlm_e2e_request_latency_seconds");
  step.write(out, "meshlm_step_seconds");
  out += "# TYPE meshlm_collective_time_share gauge\nmeshlm_collective_time_share " +
         num(busy_s > 0 ? collective_s / busy_s : 0) + "\n";
  return out;
}

}  // namespace meshlm

// The client side of `mesh-bench serve`: a seeded request mix, streaming
// completions against a running `mesh-run serve` (cpp-httplib, one thread per
// concurrent client), /metrics sampling, and the statistics of a run. No MPI:
// the load generator is one process. docs/DESIGN.md §10 (serving benchmark).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace meshlm::bench {

// One request of the mix: a prompt of token ids and the output tokens asked for.
struct BenchRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 0;
};

// Inclusive range of lengths, "16:128" (or "32" for 32:32).
struct LengthRange {
  int64_t lo = 1, hi = 1;
  static LengthRange parse(const std::string& text, const char* what);
  std::string str() const;
};

// The first `count` requests of the mix of `seed`: request i's prompt length
// and output length are uniform over their ranges and its ids uniform over
// [3, vocab), all drawn from splitmix64 streams keyed by (seed, i) — request i
// is the same whatever `count`, so shorter runs use a prefix of longer ones.
std::vector<BenchRequest> request_mix(uint64_t seed, int64_t count, LengthRange prompt,
                                      LengthRange output, int64_t vocab);

// What the client saw of one streamed completion (steady-clock seconds).
struct RequestRecord {
  int64_t index = 0;  // in the mix (= arrival order)
  int64_t prompt_tokens = 0, max_tokens = 0, output_tokens = 0;
  double sent = 0, first_token = 0, done = 0;
  std::vector<double> chunk_gaps;  // between successive token-carrying chunks
  int64_t chunks = 0;              // token-carrying chunks
  bool ok = false;
  std::string error;
  std::string finish_reason;
};

// Statistics over samples: linear interpolation between closest ranks
// (numpy's default); 0 for no samples.
double percentile(std::vector<double> samples, double p);

// A parsed Prometheus text page: "name{labels}" -> value (the key keeps the
// labels as written, e.g. meshlm_kv_blocks_used{replica="0"}).
using MetricsPage = std::map<std::string, double>;
MetricsPage parse_metrics(const std::string& text);
// Values of `name` by label value of `label` (e.g. replica -> blocks), in order.
std::vector<double> metric_by_label(const MetricsPage& page, const std::string& name);
double metric(const MetricsPage& page, const std::string& key);  // 0 when absent

// An HTTP client of one server ("http://host:port").
class ServeClient {
 public:
  explicit ServeClient(std::string url, double timeout_s = 600);
  // GET path: body, or throws meshlm::Error naming the URL and the status.
  std::string get(const std::string& path) const;
  // Polls GET /health until it answers 200, for at most `seconds`; throws on timeout.
  void wait_ready(double seconds) const;
  // POST /v1/completions, streamed: greedy, ignore_eos, return_token_ids.
  RequestRecord complete(const BenchRequest& r, int64_t index) const;
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  double timeout_s_;
};

// One run of `requests` at `concurrency` closed-loop clients (each takes the
// next request of the mix as soon as its previous one is done), with /metrics
// sampled every `sample_s` seconds. Returns the run's JSON record.
nlohmann::json run_load(const ServeClient& client, const std::vector<BenchRequest>& requests,
                        int concurrency, double sample_s);

}  // namespace meshlm::bench

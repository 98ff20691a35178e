#include "bench/serve_client.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>

#include "sharding/error.h"

namespace meshlm::bench {

using nlohmann::json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [lo, hi] (the modulo bias is below 2^-50 for these spans).
int64_t uniform(uint64_t& state, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(hi - lo + 1));
}

int64_t parse_int(const std::string& s, const char* what) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0)
    MESHLM_FAIL(what << ": '" << s << "' is not an integer");
  return v;
}

json summary(const std::vector<double>& v, double scale) {
  const double mean = v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  return {{"mean", mean * scale},
          {"p50", percentile(v, 50) * scale},
          {"p90", percentile(v, 90) * scale},
          {"p99", percentile(v, 99) * scale},
          {"max", v.empty() ? 0 : *std::max_element(v.begin(), v.end()) * scale},
          {"count", v.size()}};
}

// Histogram `name` between two pages: count, sum and the upper bound of the
// bucket holding quantile q (Prometheus' histogram_quantile without the
// interpolation).
struct HistogramDelta {
  double count = 0, sum = 0;
  std::vector<std::pair<double, double>> cumulative;  // (le, count), +Inf as infinity
  double quantile(double q) const {
    for (const auto& [le, n] : cumulative)
      if (n >= q * count && count > 0)
        return std::isinf(le) && cumulative.size() > 1 ? cumulative[cumulative.size() - 2].first
                                                       : le;
    return 0;
  }
};

HistogramDelta histogram_delta(const MetricsPage& a, const MetricsPage& b, const std::string& name) {
  HistogramDelta h;
  h.count = metric(b, name + "_count") - metric(a, name + "_count");
  h.sum = metric(b, name + "_sum") - metric(a, name + "_sum");
  const std::string prefix = name + "_bucket{le=\"";
  for (const auto& [key, value] : b) {
    if (key.rfind(prefix, 0) != 0) continue;
    const std::string le = key.substr(prefix.size(), key.size() - prefix.size() - 2);
    const double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
    h.cumulative.emplace_back(bound, value - metric(a, key));
  }
  std::sort(h.cumulative.begin(), h.cumulative.end());
  return h;
}

}  // namespace

LengthRange LengthRange::parse(const std::string& text, const char* what) {
  LengthRange r;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    r.lo = r.hi = parse_int(text, what);
  } else {
    r.lo = parse_int(text.substr(0, colon), what);
    r.hi = parse_int(text.substr(colon + 1), what);
  }
  if (r.lo < 1 || r.hi < r.lo || r.hi > (int64_t{1} << 30))
    MESHLM_FAIL(what << " '" << text << "': expected LO:HI with 1 <= LO <= HI (or one length)");
  return r;
}

std::string LengthRange::str() const {
  return std::to_string(lo) + ":" + std::to_string(hi);
}

std::vector<BenchRequest> request_mix(uint64_t seed, int64_t count, LengthRange prompt,
                                      LengthRange output, int64_t vocab) {
  if (vocab < 4) MESHLM_FAIL("--vocab " << vocab << ": prompt ids are drawn from [3, vocab)");
  std::vector<BenchRequest> out;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t state = seed * 0x100000001b3ull + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull;
    splitmix64(state);
    BenchRequest r;
    const int64_t len = uniform(state, prompt.lo, prompt.hi);
    r.max_tokens = uniform(state, output.lo, output.hi);
    r.prompt.resize(static_cast<size_t>(len));
    for (int32_t& id : r.prompt) id = static_cast<int32_t>(uniform(state, 3, vocab - 1));
    out.push_back(std::move(r));
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

MetricsPage parse_metrics(const std::string& text) {
  MetricsPage page;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    page[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return page;
}

std::vector<double> metric_by_label(const MetricsPage& page, const std::string& name) {
  std::vector<double> out;
  for (const auto& [key, value] : page)  // map order: replica="0", "1", ... (fine below 10)
    if (key.rfind(name + "{", 0) == 0) out.push_back(value);
  return out;
}

double metric(const MetricsPage& page, const std::string& key) {
  auto it = page.find(key);
  return it == page.end() ? 0 : it->second;
}

ServeClient::ServeClient(std::string url, double timeout_s)
    : url_(std::move(url)), timeout_s_(timeout_s) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  if (url_.rfind("http://", 0) != 0)
    MESHLM_FAIL("--url '" << url_ << "': expected http://HOST:PORT");
}

std::string ServeClient::get(const std::string& path) const {
  httplib::Client cli(url_);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(static_cast<time_t>(timeout_s_));
  auto res = cli.Get(path.c_str());
  if (!res) MESHLM_FAIL("GET " << url_ << path << ": " << httplib::to_string(res.error()));
  if (res->status != 200)
    MESHLM_FAIL("GET " << url_ << path << ": HTTP " << res->status << " " << res->body);
  return res->body;
}

void ServeClient::wait_ready(double seconds) const {
  const double deadline = now_s() + seconds;
  for (;;) {
    httplib::Client cli(url_);
    cli.set_connection_timeout(1);
    cli.set_read_timeout(5);
    auto res = cli.Get("/health");
    if (res && res->status == 200) return;
    if (now_s() >= deadline)
      MESHLM_FAIL("the server at " << url_ << " did not answer GET /health with 200 within "
                                   << seconds << " s ("
                                   << (res ? "HTTP " + std::to_string(res->status)
                                           : httplib::to_string(res.error()))
                                   << ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

RequestRecord ServeClient::complete(const BenchRequest& q, int64_t index) const {
  RequestRecord rec;
  rec.index = index;
  rec.prompt_tokens = static_cast<int64_t>(q.prompt.size());
  rec.max_tokens = q.max_tokens;
  const json body = {{"prompt", q.prompt},         {"max_tokens", q.max_tokens},
                     {"temperature", 0},           {"ignore_eos", true},
                     {"stream", true},             {"return_token_ids", true}};
  httplib::Client cli(url_);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(static_cast<time_t>(timeout_s_));
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  std::string buffer, raw;
  bool finished = false;
  double last = 0;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    const double t = now_s();
    if (raw.size() < 4096) raw.append(data, std::min<size_t>(n, 4096 - raw.size()));
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        finished = true;
        continue;
      }
      const json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("choices") || j["choices"].empty()) {
        if (j.is_object() && j.contains("error")) rec.error = j["error"].dump();
        continue;
      }
      const json& c = j["choices"][0];
      const size_t k = c.contains("token_ids") ? c["token_ids"].size() : 0;
      if (k > 0) {
        if (rec.output_tokens == 0)
          rec.first_token = t;
        else
          rec.chunk_gaps.push_back(t - last);
        last = t;
        rec.output_tokens += static_cast<int64_t>(k);
        ++rec.chunks;
      }
      if (c.contains("finish_reason") && c["finish_reason"].is_string())
        rec.finish_reason = c["finish_reason"].get<std::string>();
    }
    return true;
  };
  rec.sent = now_s();
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = cli.send(req, res, err);
  rec.done = now_s();
  if (!sent) {
    rec.error = "POST /v1/completions: " + httplib::to_string(err);
  } else if (res.status != 200) {
    rec.error = "HTTP " + std::to_string(res.status) + ": " + raw;
  } else if (!finished) {
    rec.error = "the stream ended without [DONE]";
  } else if (rec.output_tokens != q.max_tokens) {
    rec.error = "got " + std::to_string(rec.output_tokens) + " tokens, asked for " +
                std::to_string(q.max_tokens) + " (finish_reason " + rec.finish_reason + ")";
  } else {
    rec.ok = true;
  }
  return rec;
}

json run_load(const ServeClient& client, const std::vector<BenchRequest>& requests,
              int concurrency, double sample_s) {
  const int64_t n = static_cast<int64_t>(requests.size());
  std::vector<RequestRecord> records(static_cast<size_t>(n));
  std::atomic<int64_t> next{0};

  // /metrics: before, sampled during the run (KV blocks, running, waiting), after.
  const MetricsPage before = parse_metrics(client.get("/metrics"));
  std::vector<std::vector<double>> used, running, waiting;  // [sample][replica]
  std::vector<double> capacity;                              // used + free, per replica
  std::mutex stop_m;
  std::condition_variable stop_cv;
  bool stop = false;
  std::thread sampler([&] {
    std::unique_lock lock(stop_m);
    while (!stop) {
      lock.unlock();
      try {
        const MetricsPage p = parse_metrics(client.get("/metrics"));
        const auto u = metric_by_label(p, "meshlm_kv_blocks_used");
        const auto f = metric_by_label(p, "meshlm_kv_blocks_free");
        lock.lock();
        used.push_back(u);
        running.push_back(metric_by_label(p, "meshlm_num_requests_running"));
        waiting.push_back(metric_by_label(p, "meshlm_num_requests_waiting"));
        if (capacity.empty() && u.size() == f.size())
          for (size_t r = 0; r < u.size(); ++r) capacity.push_back(u[r] + f[r]);
        lock.unlock();
      } catch (const std::exception&) {  // a missed sample is no failure
      }
      lock.lock();
      stop_cv.wait_for(lock, std::chrono::duration<double>(sample_s), [&] { return stop; });
    }
  });

  const double t0 = now_s();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c)
    clients.emplace_back([&] {
      for (int64_t i; (i = next++) < n;)
        records[static_cast<size_t>(i)] = client.complete(requests[static_cast<size_t>(i)], i);
    });
  for (auto& t : clients) t.join();
  double t1 = t0;
  for (const auto& r : records) t1 = std::max(t1, r.done);
  {
    std::lock_guard lock(stop_m);
    stop = true;
  }
  stop_cv.notify_all();
  sampler.join();
  const MetricsPage after = parse_metrics(client.get("/metrics"));

  std::vector<double> ttft, itl, tpot, e2e;
  int64_t ok = 0, out_tokens = 0, in_tokens = 0, chunks = 0;
  json errors = json::array();
  for (const auto& r : records) {
    if (!r.ok) {
      if (errors.size() < 5) errors.push_back({{"request", r.index}, {"error", r.error}});
      continue;
    }
    ++ok;
    out_tokens += r.output_tokens;
    in_tokens += r.prompt_tokens;
    chunks += r.chunks;
    ttft.push_back(r.first_token - r.sent);
    e2e.push_back(r.done - r.sent);
    itl.insert(itl.end(), r.chunk_gaps.begin(), r.chunk_gaps.end());
    if (r.output_tokens > 1)
      tpot.push_back((r.done - r.first_token) / static_cast<double>(r.output_tokens - 1));
  }
  const double duration = t1 - t0;

  // KV blocks: the sum over replicas, and each replica's peak.
  std::vector<double> used_total, run_total, wait_total;
  std::vector<double> used_peak(capacity.size(), 0);
  for (size_t s = 0; s < used.size(); ++s) {
    used_total.push_back(std::accumulate(used[s].begin(), used[s].end(), 0.0));
    run_total.push_back(std::accumulate(running[s].begin(), running[s].end(), 0.0));
    wait_total.push_back(std::accumulate(waiting[s].begin(), waiting[s].end(), 0.0));
    for (size_t r = 0; r < used[s].size() && r < used_peak.size(); ++r)
      used_peak[r] = std::max(used_peak[r], used[s][r]);
  }
  auto mean_of = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  };
  auto max_of = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  const double blocks = std::accumulate(capacity.begin(), capacity.end(), 0.0);

  // The server's steps during the run (rank 0's wall time per lockstep step).
  const HistogramDelta step = histogram_delta(before, after, "meshlm_step_seconds");
  auto delta = [&](const std::string& key) { return metric(after, key) - metric(before, key); };
  const double gen = delta("meshlm_generation_tokens_total");
  const double prompt = delta("meshlm_prompt_tokens_total");
  const double hits = delta("meshlm_prefix_cache_hits_total");
  const double steps = step.count;

  return {
      {"concurrency", concurrency},
      {"requests", n},
      {"completed", ok},
      {"failed", n - ok},
      {"errors", errors},
      {"duration_s", duration},
      {"requests_per_s", duration > 0 ? ok / duration : 0},
      {"prompt_tokens", in_tokens},
      {"output_tokens", out_tokens},
      {"output_tokens_per_s", duration > 0 ? out_tokens / duration : 0},
      {"total_tokens_per_s", duration > 0 ? (in_tokens + out_tokens) / duration : 0},
      {"ttft_ms", summary(ttft, 1e3)},
      {"itl_ms", summary(itl, 1e3)},
      {"tpot_ms", summary(tpot, 1e3)},
      {"e2e_ms", summary(e2e, 1e3)},
      // Tokens per streamed chunk after the first (1 = every token its own chunk).
      {"tokens_per_chunk",
       chunks > ok ? static_cast<double>(out_tokens - ok) / static_cast<double>(chunks - ok) : 0},
      {"kv_blocks",
       {{"per_replica", capacity},
        {"total", blocks},
        {"used_mean", mean_of(used_total)},
        {"used_max", max_of(used_total)},
        {"used_max_per_replica", used_peak},
        {"used_max_fraction", blocks > 0 ? max_of(used_total) / blocks : 0},
        {"samples", used.size()},
        {"sample_interval_s", sample_s}}},
      {"running", {{"mean", mean_of(run_total)}, {"max", max_of(run_total)}}},
      {"waiting", {{"mean", mean_of(wait_total)}, {"max", max_of(wait_total)}}},
      {"server",
       {{"steps", steps},
        {"step_ms_mean", steps > 0 ? step.sum / steps * 1e3 : 0},
        {"step_ms_p50_bucket", step.quantile(0.5) * 1e3},
        {"step_ms_p99_bucket", step.quantile(0.99) * 1e3},
        {"busy_fraction", duration > 0 ? step.sum / duration : 0},
        {"generation_tokens", gen},
        {"prompt_tokens", prompt},
        {"prefix_cache_hit_tokens", hits},
        {"preemptions", delta("meshlm_preemptions_total")},
        // Every sampled token is one row of a step; prompts add their
        // uncached tokens (prefill chunks). Per step, over the replicas.
        {"sampled_tokens_per_step", steps > 0 ? gen / steps : 0},
        {"fed_tokens_per_step", steps > 0 ? (gen + prompt - hits - ok) / steps : 0},
        {"step_ms_per_fed_token",
         gen + prompt - hits - ok > 0 ? step.sum * 1e3 / (gen + prompt - hits - ok) : 0},
        {"collective_time_share_cumulative", metric(after, "meshlm_collective_time_share")}}},
  };
}

}  // namespace meshlm::bench

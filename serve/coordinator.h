// The serving brain on world rank 0: takes requests from the HTTP threads,
// assigns each to the least-loaded dp replica's scheduler, turns every
// replica's plan into the step message all ranks execute, and turns the
// sampled tokens into text, stop decisions and metrics. Only the serving loop
// thread calls the step methods; submit() and the Request flags are for the
// HTTP threads. docs/DESIGN.md §13.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/step.h"

namespace meshlm {

struct ServeOptions {
  std::string model_name;     // what /v1/models lists and requests may name
  int64_t dp = 1;             // replicas
  SchedulerConfig scheduler;  // per replica (max_model_len = the plan's seq_len)
  int64_t vocab_size = 0;
  std::vector<int32_t> eos_ids;    // stop a completion unless ignore_eos
  int64_t max_queue = 1024;        // requests waiting for a slot before 429
  double shutdown_timeout_s = 30;  // in-flight requests get this long after SIGTERM
};

class Coordinator {
 public:
  Coordinator(ServeOptions options, const Tokenizer* tokenizer, ServerMetrics& metrics);

  const ServeOptions& options() const { return options_; }
  const Tokenizer* tokenizer() const { return tokenizer_; }
  ServerMetrics& metrics() const { return metrics_; }

  // HTTP threads. Checks the request against the model (a text prompt needs a
  // tokenizer, ids inside the vocabulary, prompt + max_tokens within the
  // sequence length) and queues it; throws ApiError (400, 404 unknown model,
  // 429 queue full, 503 shutting down).
  std::shared_ptr<Request> submit(CompletionRequest params);
  // Wakes the loop (a client went away: its Request::cancelled is set).
  void notify();

  // The serving loop. Waits up to `timeout` for something to do.
  bool wait_for_work(std::chrono::milliseconds timeout);
  // Admits new requests, aborts cancelled ones, schedules every replica.
  StepMessage next_step();
  // The tokens the step sampled (every replica's), and its wall time.
  void apply(const std::vector<SeqResult>& results, double step_seconds);
  bool has_work();  // requests queued or running

  // Shutdown: stop accepting (submit answers 503), then abort what is left.
  void begin_shutdown();
  bool closing() const { return closing_; }
  void abort_all();

 private:
  void finish(Request& r, const std::string& reason);  // r.m held
  void record_token(Request& r, const SeqResult& s);
  void update_gauges();

  ServeOptions options_;
  const Tokenizer* tokenizer_;
  ServerMetrics& metrics_;
  std::vector<Scheduler> replicas_;

  std::mutex inbox_m_;
  std::condition_variable inbox_cv_;
  std::deque<std::shared_ptr<Request>> inbox_;
  bool woken_ = false;
  std::atomic<bool> closing_{false};
  std::atomic<int64_t> next_id_{1};
  std::atomic<int64_t> queued_{0};  // inbox + waiting in the schedulers

  // Loop thread only.
  std::map<int64_t, std::shared_ptr<Request>> active_;  // seq id -> request
  std::map<int64_t, int> replica_of_;
  std::vector<bool> planned_;  // replicas with a non-empty plan in flight
};

}  // namespace meshlm

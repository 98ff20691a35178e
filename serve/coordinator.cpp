#include "serve/coordinator.h"

#include <algorithm>
#include <random>

#include "sharding/error.h"

namespace meshlm {

namespace {

double steady_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

Coordinator::Coordinator(ServeOptions options, const Tokenizer* tokenizer, ServerMetrics& metrics)
    : options_(std::move(options)), tokenizer_(tokenizer), metrics_(metrics) {
  for (int64_t r = 0; r < options_.dp; ++r) replicas_.emplace_back(options_.scheduler);
  planned_.assign(replicas_.size(), false);
  update_gauges();
}

std::shared_ptr<Request> Coordinator::submit(CompletionRequest p) {
  if (closing_) throw ApiError(503, "the server is shutting down", "", "server_error");
  if (!p.model.empty() && p.model != options_.model_name)
    throw ApiError(
        404,
        "model '" + p.model + "' does not exist: this server serves '" + options_.model_name + "'",
        "model", "invalid_request_error", "model_not_found");
  std::vector<int32_t> prompt;
  if (p.prompt) {
    if (!tokenizer_)
      throw ApiError(400,
                     "'prompt' is text, but the server has no tokenizer (start it with "
                     "--tokenizer, or send the prompt as an array of token ids)",
                     "prompt");
    try {
      prompt = tokenizer_->encode(*p.prompt, /*bos=*/true);
    } catch (const Error& e) {  // a byte the vocabulary cannot encode
      throw ApiError(400, e.what(), "prompt");
    }
  } else {
    prompt = p.prompt_ids;
  }
  const int64_t V = options_.vocab_size;
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] >= V)
      throw ApiError(400,
                     "'prompt[" + std::to_string(i) + "]' is token id " +
                         std::to_string(prompt[i]) + ", outside the vocabulary 0.." +
                         std::to_string(V - 1),
                     "prompt");
  for (int32_t id : p.stop_token_ids)
    if (id >= V)
      throw ApiError(400,
                     "'stop_token_ids' holds " + std::to_string(id) +
                         ", outside the vocabulary 0.." + std::to_string(V - 1),
                     "stop_token_ids");
  const int64_t len = static_cast<int64_t>(prompt.size()), limit = options_.scheduler.max_model_len;
  if (len + p.max_tokens > limit)
    throw ApiError(400,
                   "the maximum sequence length is " + std::to_string(limit) +
                       " tokens, but the request needs " + std::to_string(len + p.max_tokens) +
                       " (" + std::to_string(len) + " in the prompt, max_tokens " +
                       std::to_string(p.max_tokens) + ")",
                   "max_tokens");
  if (queued_ >= options_.max_queue)
    throw ApiError(429,
                   "the queue is full (" + std::to_string(options_.max_queue) +
                       " requests waiting, --max-queue): retry later",
                   "", "rate_limit_error");
  const int64_t id = next_id_++;
  auto r = std::make_shared<Request>(id, std::move(p), std::move(prompt), tokenizer_);
  r->seed = r->params.seed ? *r->params.seed : std::random_device{}() ^ (uint64_t(id) << 32);
  {
    std::lock_guard lock(inbox_m_);
    inbox_.push_back(r);
    ++queued_;
  }
  inbox_cv_.notify_one();
  return r;
}

void Coordinator::notify() {
  {
    std::lock_guard lock(inbox_m_);
    woken_ = true;
  }
  inbox_cv_.notify_one();
}

bool Coordinator::has_work() {
  std::lock_guard lock(inbox_m_);
  return !inbox_.empty() || !active_.empty();
}

bool Coordinator::wait_for_work(std::chrono::milliseconds timeout) {
  std::unique_lock lock(inbox_m_);
  inbox_cv_.wait_for(lock, timeout, [&] { return !inbox_.empty() || !active_.empty() || woken_; });
  woken_ = false;
  return !inbox_.empty() || !active_.empty();
}

StepMessage Coordinator::next_step() {
  std::deque<std::shared_ptr<Request>> arrived;
  {
    std::lock_guard lock(inbox_m_);
    arrived.swap(inbox_);
  }
  for (auto& r : arrived) {  // to the least-loaded replica
    int best = 0;
    auto load = [&](int i) { return replicas_[i].num_running() + replicas_[i].num_waiting(); };
    for (int i = 1; i < static_cast<int>(replicas_.size()); ++i)
      if (load(i) < load(best)) best = i;
    replicas_[best].add(r->seq_id, r->prompt, r->params.max_tokens);
    replica_of_[r->seq_id] = best;
    active_[r->seq_id] = r;
    std::lock_guard lock(metrics_.m);
    metrics_.prompt_tokens += r->prompt.size();
  }
  for (auto it = active_.begin(); it != active_.end();) {
    Request& r = *it->second;
    if (r.cancelled) {
      replicas_[replica_of_[r.seq_id]].abort(r.seq_id);
      {
        std::lock_guard lock(r.m);
        finish(r, "abort");
      }
      replica_of_.erase(r.seq_id);
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  StepMessage msg;
  msg.replicas.resize(replicas_.size());
  for (size_t i = 0; i < replicas_.size(); ++i) {
    StepPlan plan = replicas_[i].schedule();
    planned_[i] = !plan.seqs.empty();
    {
      std::lock_guard lock(metrics_.m);
      metrics_.preemptions += plan.preempted.size();
    }
    for (ScheduledSeq& s : plan.seqs) {
      const Request& r = *active_.at(s.seq_id);
      SeqWork w;
      w.seq_id = s.seq_id;
      w.slot = s.slot;
      w.start_pos = s.start_pos;
      w.tokens = std::move(s.tokens);
      w.block_table = std::move(s.block_table);
      w.window_table = std::move(s.window_table);
      w.sample = s.sample;
      w.num_generated = s.num_generated;
      w.sampling = SamplingParams{r.params.temperature, r.params.top_k, r.params.top_p};
      w.seed = r.seed;
      w.logprobs = r.params.logprobs;
      msg.replicas[i].push_back(std::move(w));
    }
  }
  int64_t waiting = 0;
  for (const Scheduler& s : replicas_) waiting += s.num_waiting();
  {
    std::lock_guard lock(inbox_m_);
    queued_ = waiting + static_cast<int64_t>(inbox_.size());
  }
  return msg;
}

void Coordinator::finish(Request& r, const std::string& reason) {
  if (r.finish_reason) return;
  r.finish_reason = reason;
  r.ready += r.text.take_rest();
  std::lock_guard lock(metrics_.m);
  metrics_.e2e.observe(steady_now() - r.arrival);
}

void Coordinator::record_token(Request& r, const SeqResult& s) {
  const double now = steady_now();
  std::lock_guard lock(metrics_.m);
  if (r.generated.empty())
    metrics_.ttft.observe(now - r.arrival);
  else
    metrics_.itl.observe(now - r.last_token);
  ++metrics_.generation_tokens;
  if (r.generated.empty()) r.first_token = now;
  r.last_token = now;
  if (r.params.logprobs >= 0) {
    TokenInfo info{s.token, r.text.piece(s.token), s.logprob, {}};
    for (const TokenLogprob& t : s.top) info.top.emplace_back(r.text.piece(t.id), t.logprob);
    r.infos.push_back(std::move(info));
  }
  r.generated.push_back(s.token);
}

void Coordinator::apply(const std::vector<SeqResult>& results, double step_seconds) {
  {
    std::lock_guard lock(metrics_.m);
    metrics_.step.observe(step_seconds);
  }
  std::vector<std::map<int64_t, int32_t>> sampled(replicas_.size());
  std::vector<std::vector<int64_t>> finished(replicas_.size());
  for (const SeqResult& s : results) {
    const int rep = replica_of_.at(s.seq_id);
    sampled[rep][s.seq_id] = s.token;
    Request& r = *active_.at(s.seq_id);
    std::lock_guard lock(r.m);
    const bool stop_id = contains(r.params.stop_token_ids, s.token) ||
                         (!r.params.ignore_eos && contains(options_.eos_ids, s.token));
    if (stop_id) {
      finish(r, "stop");
    } else {
      record_token(r, s);
      const bool hit = r.text.push(s.token);
      r.ready += r.text.take_ready();
      if (hit)
        finish(r, "stop");
      else if (static_cast<int64_t>(r.generated.size()) >= r.params.max_tokens)
        finish(r, "length");
    }
    if (r.done()) finished[rep].push_back(s.seq_id);
    r.cv.notify_all();
  }
  for (size_t i = 0; i < replicas_.size(); ++i) {
    if (!planned_[i]) continue;
    planned_[i] = false;
    for (int64_t id : replicas_[i].complete_step(sampled[i], finished[i])) {
      Request& r = *active_.at(id);  // finished by the scheduler: max_model_len
      std::lock_guard lock(r.m);
      finish(r, "length");
      r.cv.notify_all();
      finished[i].push_back(id);
    }
    for (int64_t id : finished[i]) {
      active_.erase(id);
      replica_of_.erase(id);
    }
  }
  update_gauges();
}

void Coordinator::update_gauges() {
  std::lock_guard lock(metrics_.m);
  const size_t n = replicas_.size();
  metrics_.running.assign(n, 0);
  metrics_.waiting.assign(n, 0);
  metrics_.blocks_used.assign(n, 0);
  metrics_.blocks_free.assign(n, 0);
  metrics_.prefix_queried = metrics_.prefix_hits = 0;
  for (size_t i = 0; i < n; ++i) {
    const Scheduler& s = replicas_[i];
    metrics_.running[i] = s.num_running();
    metrics_.waiting[i] = s.num_waiting();
    metrics_.blocks_used[i] = s.blocks().num_used();
    metrics_.blocks_free[i] = s.blocks().num_free();
    metrics_.prefix_queried += s.blocks().stats().queried_tokens;
    metrics_.prefix_hits += s.blocks().stats().hit_tokens;
  }
}

void Coordinator::begin_shutdown() {
  closing_ = true;
  notify();
}

void Coordinator::abort_all() {
  std::deque<std::shared_ptr<Request>> arrived;
  {
    std::lock_guard lock(inbox_m_);
    arrived.swap(inbox_);
  }
  for (auto& r : arrived) active_[r->seq_id] = r;
  for (auto& [id, r] : active_) {
    auto rep = replica_of_.find(id);
    if (rep != replica_of_.end()) replicas_[rep->second].abort(id);
    std::lock_guard lock(r->m);
    finish(*r, "abort");
    r->cv.notify_all();
  }
  active_.clear();
  replica_of_.clear();
  update_gauges();
}

}  // namespace meshlm

#include "scheduler/scheduler.h"

#include <algorithm>

#include "sharding/error.h"

namespace meshlm {
namespace {

// The config, or meshlm::Error naming what is wrong with it.
const SchedulerConfig& validated(const SchedulerConfig& c) {
  auto positive = [](int64_t v, const char* what) {
    if (v < 1) MESHLM_FAIL("scheduler: " << what << " is " << v << " (expected >= 1)");
  };
  positive(c.max_num_seqs, "max_num_seqs");
  positive(c.max_num_batched_tokens, "max_num_batched_tokens");
  positive(c.max_model_len, "max_model_len");
  positive(c.block_size, "block_size");
  positive(c.num_blocks, "num_blocks");
  if (c.max_num_seqs > INT32_MAX) MESHLM_FAIL("scheduler: max_num_seqs " << c.max_num_seqs);
  if (c.num_blocks > INT32_MAX) MESHLM_FAIL("scheduler: num_blocks " << c.num_blocks);
  if (c.window_blocks_per_seq < 0 || c.num_window_blocks < c.window_blocks_per_seq ||
      c.num_window_blocks > INT32_MAX)
    MESHLM_FAIL("scheduler: " << c.num_window_blocks << " window blocks for rings of "
                              << c.window_blocks_per_seq);
  if (c.window_blocks_per_seq > 0 && c.prefix_caching)
    MESHLM_FAIL("scheduler: prefix caching cannot share the rings of sliding-window layers");
  const int64_t one_seq = (c.max_model_len + c.block_size - 1) / c.block_size;
  if (c.num_blocks < one_seq) {
    MESHLM_FAIL("scheduler: a KV cache of " << c.num_blocks << " blocks of " << c.block_size
                                            << " positions cannot hold one sequence of "
                                            << "max_model_len " << c.max_model_len << " (needs "
                                            << one_seq << " blocks)");
  }
  return c;
}

}  // namespace

int64_t StepPlan::num_batched_tokens() const {
  int64_t n = 0;
  for (const ScheduledSeq& s : seqs) n += static_cast<int64_t>(s.tokens.size());
  return n;
}

Scheduler::Scheduler(const SchedulerConfig& config)
    : config_(validated(config)),
      blocks_(config_.num_blocks, config_.block_size, config_.prefix_caching),
      slot_used_(config_.max_num_seqs, false) {
  for (int64_t b = config_.num_window_blocks - 1; b >= 0; --b)
    window_free_.push_back(static_cast<BlockId>(b));
}

void Scheduler::release_slot(Seq& s) {
  slot_used_[s.slot] = false;
  s.slot = -1;
  window_free_.insert(window_free_.end(), s.window.rbegin(), s.window.rend());
  s.window.clear();
}

int64_t Scheduler::blocks_for(int64_t positions) const {
  return (positions + config_.block_size - 1) / config_.block_size;
}

const std::vector<int32_t>* Scheduler::tokens_of(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  return it == seqs_.end() ? nullptr : &it->second.tokens;
}

void Scheduler::add(int64_t seq_id, std::vector<int32_t> prompt, int64_t max_tokens) {
  MESHLM_CHECK(!prompt.empty(), "sequence " << seq_id << ": empty prompt");
  MESHLM_CHECK(max_tokens >= 1, "sequence " << seq_id << ": max_tokens " << max_tokens);
  MESHLM_CHECK(static_cast<int64_t>(prompt.size()) + max_tokens <= config_.max_model_len,
               "sequence " << seq_id << ": prompt " << prompt.size() << " + max_tokens "
                           << max_tokens << " > max_model_len " << config_.max_model_len);
  MESHLM_CHECK(!seqs_.contains(seq_id), "sequence id " << seq_id << " added twice");
  Seq s;
  s.id = seq_id;
  s.prompt_len = static_cast<int64_t>(prompt.size());
  s.tokens = std::move(prompt);
  s.max_tokens = max_tokens;
  seqs_.emplace(seq_id, std::move(s));
  waiting_.push_back(seq_id);
}

int32_t Scheduler::take_slot() {
  auto it = std::find(slot_used_.begin(), slot_used_.end(), false);
  MESHLM_CHECK(it != slot_used_.end(), "no free slot");
  *it = true;
  return static_cast<int32_t>(it - slot_used_.begin());
}

bool Scheduler::grow(Seq& s, int64_t positions) {
  const auto need = static_cast<size_t>(blocks_for(positions));
  while (s.blocks.size() < need) {
    std::optional<BlockId> b = blocks_.allocate();
    if (!b) return false;
    s.blocks.push_back(*b);
  }
  return true;
}

void Scheduler::preempt(Seq& s) {
  blocks_.release(s.blocks);
  s.blocks.clear();
  s.computed = 0;
  s.committed = 0;
  release_slot(s);
  running_.erase(std::find(running_.begin(), running_.end(), s.id));
  waiting_.push_front(s.id);
}

void Scheduler::free_seq(int64_t seq_id) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  Seq& s = it->second;
  if (s.slot >= 0) {
    blocks_.release(s.blocks);
    release_slot(s);
    running_.erase(std::find(running_.begin(), running_.end(), seq_id));
  } else {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), seq_id));
  }
  seqs_.erase(it);
}

void Scheduler::abort(int64_t seq_id) {
  free_seq(seq_id);
}

StepPlan Scheduler::schedule() {
  MESHLM_CHECK(!pending_, "schedule() called before complete_step() of the previous plan");
  StepPlan plan;
  in_flight_.clear();
  int64_t budget = config_.max_num_batched_tokens;
  auto emit = [&](const Seq& s, int64_t count) {
    ScheduledSeq out;
    out.seq_id = s.id;
    out.slot = s.slot;
    out.start_pos = s.computed;
    out.tokens.assign(s.tokens.begin() + s.computed, s.tokens.begin() + s.computed + count);
    out.block_table = s.blocks;
    out.window_table = s.window;
    out.sample = s.computed + count == static_cast<int64_t>(s.tokens.size());
    out.num_generated = static_cast<int64_t>(s.tokens.size()) - s.prompt_len;
    in_flight_.push_back({s.id, count, out.sample});
    plan.seqs.push_back(std::move(out));
    budget -= count;
  };

  // Running sequences, oldest admission first; the newest give way when blocks run out.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Seq& s = seqs_.at(running_[i]);
    const int64_t remaining = static_cast<int64_t>(s.tokens.size()) - s.computed;
    MESHLM_CHECK(remaining >= 1, "running sequence " << s.id << " has nothing to feed");
    const int64_t count = std::min(remaining, budget);
    bool self_preempted = false;
    while (!grow(s, s.computed + count)) {
      Seq& victim = seqs_.at(running_.back());
      self_preempted = &victim == &s;
      plan.preempted.push_back(victim.id);
      preempt(victim);
      if (self_preempted) break;
    }
    if (self_preempted) break;  // it was the last running one
    emit(s, count);
    ++i;
  }

  // Admission, FIFO, never at the expense of running sequences: not after a
  // preemption this step, and only while the chunk's blocks are free.
  while (plan.preempted.empty() && budget > 0 && !waiting_.empty() &&
         num_running() < config_.max_num_seqs &&
         static_cast<int64_t>(window_free_.size()) >= config_.window_blocks_per_seq) {
    Seq& s = seqs_.at(waiting_.front());
    const BlockAllocator::PrefixProbe hit = blocks_.probe_prefix(s.tokens);
    const int64_t start = hit.blocks * config_.block_size;
    const int64_t count = std::min(static_cast<int64_t>(s.tokens.size()) - start, budget);
    const int64_t new_blocks = blocks_for(start + count) - hit.blocks;
    if (new_blocks > blocks_.num_free() - hit.evictable) break;
    s.blocks = blocks_.match_prefix(s.tokens);
    MESHLM_CHECK(static_cast<int64_t>(s.blocks.size()) == hit.blocks, "prefix probe disagrees");
    s.computed = start;
    s.committed = hit.blocks;
    MESHLM_CHECK(grow(s, start + count), "admission of " << s.id << " over-committed blocks");
    s.slot = take_slot();
    for (int64_t i = 0; i < config_.window_blocks_per_seq; ++i) {
      s.window.push_back(window_free_.back());
      window_free_.pop_back();
    }
    waiting_.pop_front();
    running_.push_back(s.id);
    emit(s, count);
  }
  pending_ = !plan.seqs.empty();
  return plan;
}

std::vector<int64_t> Scheduler::complete_step(const std::map<int64_t, int32_t>& sampled,
                                              const std::vector<int64_t>& finished) {
  MESHLM_CHECK(pending_ || sampled.empty(), "complete_step() with samples but no plan");
  for (const auto& [id, token] : sampled) {
    auto f = std::find_if(in_flight_.begin(), in_flight_.end(),
                          [id = id](const Fed& x) { return x.seq_id == id; });
    MESHLM_CHECK(f != in_flight_.end() && f->sample, "token " << token << " sampled for sequence "
                                                              << id << ", which was not to sample");
  }
  for (const Fed& f : in_flight_) {
    auto it = seqs_.find(f.seq_id);
    if (it == seqs_.end() || it->second.slot < 0) continue;  // aborted (maybe re-added) since
    Seq& s = it->second;
    s.computed += f.count;
    MESHLM_CHECK(s.computed <= static_cast<int64_t>(s.tokens.size()), "sequence " << s.id);
    if (f.sample) {
      auto t = sampled.find(s.id);
      MESHLM_CHECK(t != sampled.end(), "no token sampled for sequence " << s.id);
      s.tokens.push_back(t->second);
    }
    const int64_t full = s.computed / config_.block_size;
    for (; s.committed < full; ++s.committed) {
      blocks_.commit_full_block(s.blocks, s.tokens, s.committed);
    }
  }
  for (int64_t id : finished) free_seq(id);

  std::vector<int64_t> done;
  for (const Fed& f : in_flight_) {
    auto it = seqs_.find(f.seq_id);
    if (!f.sample || it == seqs_.end() || it->second.slot < 0) continue;
    const Seq& s = it->second;
    const auto len = static_cast<int64_t>(s.tokens.size());
    if (len - s.prompt_len >= s.max_tokens || len >= config_.max_model_len) {
      done.push_back(s.id);
      free_seq(s.id);
    }
  }
  in_flight_.clear();
  pending_ = false;
  return done;
}

void Scheduler::check_invariants() const {
  blocks_.check_consistency();
  std::vector<int32_t> refs(blocks_.num_blocks(), 0);
  std::vector<bool> slot_seen(config_.max_num_seqs, false);
  for (int64_t id : running_) {
    const Seq& s = seqs_.at(id);
    MESHLM_CHECK(
        s.slot >= 0 && s.slot < config_.max_num_seqs && !slot_seen[s.slot] && slot_used_[s.slot],
        "sequence " << id << " has slot " << s.slot);
    slot_seen[s.slot] = true;
    int64_t fed = 0;  // positions of the plan in flight, whose blocks exist already
    for (const Fed& f : in_flight_) {
      if (f.seq_id == id) fed = f.count;
    }
    const auto len = static_cast<int64_t>(s.tokens.size());
    MESHLM_CHECK(s.computed + fed <= len && (pending_ || s.computed < len),
                 "sequence " << id << ": computed " << s.computed << " of " << len);
    MESHLM_CHECK(static_cast<int64_t>(s.blocks.size()) == blocks_for(s.computed + fed),
                 "sequence " << id << ": " << s.blocks.size() << " blocks for " << s.computed + fed
                             << " positions");
    MESHLM_CHECK(s.committed * config_.block_size <= s.computed, "sequence " << id);
    for (BlockId b : s.blocks) ++refs.at(b);
    MESHLM_CHECK(static_cast<int64_t>(s.window.size()) == config_.window_blocks_per_seq,
                 "sequence " << id << " holds " << s.window.size() << " window blocks");
  }
  for (int64_t id : waiting_) {
    const Seq& s = seqs_.at(id);
    MESHLM_CHECK(s.slot < 0 && s.blocks.empty() && s.computed == 0,
                 "waiting sequence " << id << " holds a slot or blocks");
  }
  MESHLM_CHECK(running_.size() + waiting_.size() == seqs_.size(), "a sequence is lost");
  MESHLM_CHECK(std::count(slot_used_.begin(), slot_used_.end(), true) == num_running(),
               "slots leaked");
  std::vector<int32_t> window_refs(static_cast<size_t>(config_.num_window_blocks), 0);
  for (BlockId b : window_free_) ++window_refs.at(b);
  for (int64_t id : running_)
    for (BlockId b : seqs_.at(id).window) ++window_refs.at(b);
  for (int32_t n : window_refs) MESHLM_CHECK(n == 1, "a window block is lost or held twice");
  for (BlockId b = 0; b < blocks_.num_blocks(); ++b) {
    MESHLM_CHECK(refs[b] == blocks_.ref_count(b), "block " << b << " has ref count "
                                                           << blocks_.ref_count(b) << " but "
                                                           << refs[b] << " tables hold it");
  }
}

}  // namespace meshlm

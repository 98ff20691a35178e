// A deterministic stand-in for the model and executor, for scheduler tests.
//
// The "model": the next token is a hash of the sequence's whole token list.
// The "KV cache": one token id per (block, offset). Running a plan writes each
// fed token at its position through the block table and reads every earlier
// position back through it, so a wrong block table, a prefix hit on the wrong
// block or a block reused while still referenced changes the tokens the model
// sees, and the test sees it. Driver runs a Scheduler with it and records each
// sequence's final tokens, to compare with running the sequence alone.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include "scheduler/scheduler.h"
#include "sharding/hash.h"

namespace meshlm::sched_test {

// The next token after `tokens`, in [0, vocab).
inline int32_t fake_model(std::span<const int32_t> tokens, int32_t vocab) {
  uint64_t h = 0x5eed;
  for (int32_t t : tokens) h = splitmix64(h ^ static_cast<uint32_t>(t));
  return static_cast<int32_t>(h % static_cast<uint64_t>(vocab));
}

// `prompt` generated alone: until max_tokens, max_model_len tokens, or `stop`
// (-1: none) was sampled.
inline std::vector<int32_t> run_alone(std::vector<int32_t> tokens, int64_t max_tokens,
                                      int64_t max_model_len, int32_t vocab, int32_t stop = -1) {
  const auto prompt_len = static_cast<int64_t>(tokens.size());
  while (true) {
    const int32_t t = fake_model(tokens, vocab);
    tokens.push_back(t);
    const auto len = static_cast<int64_t>(tokens.size());
    if (t == stop || len - prompt_len >= max_tokens || len >= max_model_len) return tokens;
  }
}

class FakeExecutor {
 public:
  FakeExecutor(int64_t num_blocks, int64_t block_size, int32_t vocab)
      : bs_(block_size), vocab_(vocab), kv_(num_blocks * block_size, -1) {}

  // Runs `plan`; `truth` holds each live sequence's tokens (prompt + sampled).
  // Returns the sampled tokens. Failures are gtest failures.
  std::map<int64_t, int32_t> run(const StepPlan& plan, const BlockAllocator& blocks,
                                 const std::map<int64_t, std::vector<int32_t>>& truth) {
    std::map<int64_t, int32_t> sampled;
    for (const ScheduledSeq& s : plan.seqs) {
      const std::vector<int32_t>& want = truth.at(s.seq_id);
      const auto count = static_cast<int64_t>(s.tokens.size());
      const int64_t end = s.start_pos + count;
      EXPECT_GE(count, 1);
      EXPECT_LE(end, static_cast<int64_t>(want.size()));
      EXPECT_EQ(static_cast<int64_t>(s.block_table.size()), (end + bs_ - 1) / bs_);
      EXPECT_EQ(s.sample, end == static_cast<int64_t>(want.size()));
      std::vector<int32_t> seen;  // what the model sees: KV cache, then the fed tokens
      for (int64_t p = 0; p < s.start_pos; ++p) seen.push_back(kv_[slot(s, p)]);
      for (int64_t p = s.start_pos; p < end; ++p) {
        // Written only through blocks this sequence alone holds.
        EXPECT_EQ(blocks.ref_count(s.block_table[p / bs_]), 1) << "seq " << s.seq_id;
        kv_[slot(s, p)] = s.tokens[p - s.start_pos];
        seen.push_back(s.tokens[p - s.start_pos]);
      }
      EXPECT_TRUE(seen.size() <= want.size() && std::equal(seen.begin(), seen.end(), want.begin()))
          << "seq " << s.seq_id << " reads wrong KV or was fed wrong tokens";
      if (s.sample) sampled[s.seq_id] = fake_model(seen, vocab_);
    }
    return sampled;
  }

 private:
  int64_t slot(const ScheduledSeq& s, int64_t p) const {
    return s.block_table.at(p / bs_) * bs_ + p % bs_;
  }
  int64_t bs_;
  int32_t vocab_;
  std::vector<int32_t> kv_;
};

// A Scheduler, a FakeExecutor and the ground truth; finishes sequences that
// sample `stop` (-1: none) as a caller would.
struct Driver {
  explicit Driver(const SchedulerConfig& c, int32_t vocab = 1000, int32_t stop = -1)
      : sched(c), exec(c.num_blocks, c.block_size, vocab), stop(stop) {}

  void add(int64_t id, std::vector<int32_t> prompt, int64_t max_tokens) {
    truth[id] = prompt;
    sched.add(id, std::move(prompt), max_tokens);
  }
  void abort(int64_t id) {
    sched.abort(id);
    truth.erase(id);
  }
  // One schedule / run / complete_step round; returns the plan. `between`
  // runs after the executor, before complete_step (to abort mid-step).
  StepPlan step(const std::function<void()>& between = {}) {
    StepPlan plan = sched.schedule();
    std::map<int64_t, int32_t> sampled = exec.run(plan, sched.blocks(), truth);
    if (between) between();
    std::vector<int64_t> finished;
    for (const auto& [id, t] : sampled) {
      auto it = truth.find(id);
      if (it == truth.end()) continue;  // aborted in between
      it->second.push_back(t);
      if (t == stop) finished.push_back(id);
    }
    std::vector<int64_t> own = sched.complete_step(sampled, finished);
    for (int64_t id : finished) done(id);
    for (int64_t id : own) done(id);
    return plan;
  }
  // Steps until nothing is left (at most max_steps); returns the steps taken.
  int64_t run_all(int64_t max_steps = 100000) {
    int64_t n = 0;
    while (sched.has_work() && n < max_steps && !::testing::Test::HasFailure()) {
      step();
      sched.check_invariants();
      ++n;
    }
    return n;
  }

  Scheduler sched;
  FakeExecutor exec;
  int32_t stop;
  std::map<int64_t, std::vector<int32_t>> truth;    // live sequences
  std::map<int64_t, std::vector<int32_t>> results;  // finished sequences

 private:
  void done(int64_t id) {
    results[id] = truth.at(id);
    truth.erase(id);
  }
};

}  // namespace meshlm::sched_test

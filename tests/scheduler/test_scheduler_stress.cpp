// Randomized: thousands of add / abort / step / caller-finish operations on
// small KV caches (so preemption and eviction are frequent), with the fake
// model. After every step: the scheduler's invariants (exact ref counts, block
// tables covering their positions, slots) and the plan's limits; every
// finished sequence ends as it would alone; nothing leaks at the end.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "scheduler/scheduler.h"
#include "tests/scheduler/fake_executor.h"

namespace meshlm {
namespace {

using sched_test::Driver;
using sched_test::run_alone;

constexpr int32_t kVocab = 24;  // small: stop tokens and repeated blocks are common
constexpr int32_t kStop = 0;

struct Case {
  SchedulerConfig config;
  std::vector<std::vector<int32_t>> bases;  // shared prompt prefixes
};

Case random_case(std::mt19937_64& rng) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  Case c;
  SchedulerConfig& s = c.config;
  s.block_size = std::vector<int64_t>{1, 2, 4, 8}[pick(0, 3)];
  s.max_model_len = pick(16, 64);
  s.num_blocks = (s.max_model_len + s.block_size - 1) / s.block_size + pick(0, 24);
  s.max_num_seqs = pick(1, 6);
  s.max_num_batched_tokens = pick(1, 48);
  s.prefix_caching = pick(0, 3) != 0;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> base(pick(0, 24));
    for (auto& t : base) t = static_cast<int32_t>(pick(1, kVocab - 1));
    c.bases.push_back(base);
  }
  return c;
}

void check_plan(const StepPlan& p, const SchedulerConfig& c) {
  EXPECT_LE(p.num_batched_tokens(), c.max_num_batched_tokens);
  EXPECT_LE(static_cast<int64_t>(p.seqs.size()), c.max_num_seqs);
  std::set<int64_t> seqs;
  std::set<int32_t> slots;
  for (const ScheduledSeq& s : p.seqs) {
    EXPECT_TRUE(seqs.insert(s.seq_id).second) << "seq " << s.seq_id << " twice";
    EXPECT_TRUE(slots.insert(s.slot).second) << "slot " << s.slot << " twice";
    EXPECT_TRUE(s.slot >= 0 && s.slot < c.max_num_seqs);
  }
  for (int64_t id : p.preempted) EXPECT_FALSE(seqs.contains(id)) << "preempted " << id;
}

TEST(SchedulerStress, RandomOperationsKeepInvariantsAndResults) {
  std::mt19937_64 rng(20240601);
  int64_t steps = 0, finished = 0, preemptions = 0, hits = 0;
  for (int round = 0; round < 300 && !::testing::Test::HasFailure(); ++round) {
    Case c = random_case(rng);
    Driver d(c.config, kVocab, kStop);
    std::map<int64_t, std::vector<int32_t>> expected;
    auto pick = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    int64_t next_id = 0;
    for (int op = 0; op < 300 && !::testing::Test::HasFailure(); ++op) {
      const int64_t r = pick(0, 99);
      if (r < 25) {  // add: a shared prefix (maybe cut) and a random tail
        const auto& base = c.bases[pick(0, 2)];
        std::vector<int32_t> prompt(base.begin(), base.begin() + pick(0, base.size()));
        const int64_t tail = pick(1, 12);
        for (int64_t i = 0; i < tail; ++i) prompt.push_back(pick(1, kVocab - 1));
        const int64_t room = c.config.max_model_len - 1;
        if (static_cast<int64_t>(prompt.size()) > room) prompt.resize(room);
        const int64_t max_tokens =
            pick(1, c.config.max_model_len - static_cast<int64_t>(prompt.size()));
        expected[next_id] = run_alone(prompt, max_tokens, c.config.max_model_len, kVocab, kStop);
        d.add(next_id++, prompt, max_tokens);
      } else if (r < 32 && !d.truth.empty()) {  // abort a live one, maybe mid-step
        auto victim = [&] {
          auto it = d.truth.begin();
          std::advance(it, pick(0, d.truth.size() - 1));
          const int64_t id = it->first;
          d.abort(id);
          expected.erase(id);
        };
        if (r < 29) {
          victim();
        } else {
          check_plan(d.step(victim), c.config);
          d.sched.check_invariants();
        }
      } else {
        const bool had_work = d.sched.has_work();
        StepPlan p = d.step();
        check_plan(p, c.config);
        EXPECT_FALSE(had_work && p.seqs.empty() && p.preempted.empty()) << "no progress";
        preemptions += static_cast<int64_t>(p.preempted.size());
        d.sched.check_invariants();
        ++steps;
      }
    }
    d.run_all();
    for (const auto& [id, tokens] : d.results) {
      EXPECT_EQ(tokens, expected.at(id)) << "round " << round << " seq " << id;
    }
    finished += static_cast<int64_t>(d.results.size());
    hits += d.sched.blocks().stats().hit_tokens;
    EXPECT_FALSE(d.sched.has_work());
    EXPECT_EQ(d.sched.blocks().num_used(), 0);
    EXPECT_EQ(d.sched.blocks().num_free(), c.config.num_blocks);
    d.sched.check_invariants();
  }
  // The run exercised what it is meant to.
  EXPECT_GT(steps, 50000);
  EXPECT_GT(finished, 10000);
  EXPECT_GT(preemptions, 500);
  EXPECT_GT(hits, 0);
  std::printf("stress: %lld steps, %lld finished, %lld preemptions, %lld hit tokens\n",
              static_cast<long long>(steps), static_cast<long long>(finished),
              static_cast<long long>(preemptions), static_cast<long long>(hits));
}

// Aborting everything mid-flight, at random points, also leaks nothing.
TEST(SchedulerStress, AbortingEverythingLeaksNothing) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 30; ++round) {
    Case c = random_case(rng);
    Driver d(c.config, kVocab);
    for (int64_t id = 0; id < 10; ++id) {
      std::vector<int32_t> prompt = c.bases[id % 3];
      prompt.push_back(static_cast<int32_t>(id + 1));
      if (static_cast<int64_t>(prompt.size()) >= c.config.max_model_len) prompt.resize(1);
      d.add(id, prompt, c.config.max_model_len - static_cast<int64_t>(prompt.size()));
    }
    const int64_t steps = std::uniform_int_distribution<int64_t>(0, 30)(rng);
    for (int64_t s = 0; s < steps; ++s) d.step();
    for (int64_t id = 0; id < 10; ++id) d.abort(id);
    EXPECT_FALSE(d.sched.has_work());
    EXPECT_EQ(d.sched.blocks().num_used(), 0);
    EXPECT_EQ(d.sched.blocks().num_free(), c.config.num_blocks);
    d.sched.check_invariants();
  }
}

}  // namespace
}  // namespace meshlm

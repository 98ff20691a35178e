// Scheduler: admission under slot and token limits, chunked prefill, decode,
// block accounting, finishing, abort, preemption and recompute, prefix sharing.
// Sequences run through FakeExecutor, whose KV cache is read back through the
// block tables, and end with the tokens they get when run alone.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "scheduler/scheduler.h"
#include "sharding/error.h"
#include "tests/scheduler/fake_executor.h"

namespace meshlm {
namespace {

using sched_test::Driver;
using sched_test::run_alone;

constexpr int32_t kVocab = 1000;

std::vector<int32_t> iota_tokens(int n, int32_t first = 0) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

SchedulerConfig config(int64_t block_size, int64_t num_blocks, int64_t max_model_len = 128) {
  SchedulerConfig c;
  c.block_size = block_size;
  c.num_blocks = num_blocks;
  c.max_model_len = max_model_len;
  return c;
}

std::vector<int64_t> ids(const StepPlan& plan) {
  std::vector<int64_t> out;
  for (const ScheduledSeq& s : plan.seqs) out.push_back(s.seq_id);
  return out;
}

const ScheduledSeq* find(const StepPlan& plan, int64_t id) {
  for (const ScheduledSeq& s : plan.seqs) {
    if (s.seq_id == id) return &s;
  }
  return nullptr;
}

TEST(Scheduler, BadConfigIsAnError) {
  EXPECT_THROW(Scheduler(config(16, 0)), Error);
  EXPECT_THROW(Scheduler(config(0, 8)), Error);
  EXPECT_THROW(Scheduler(config(16, 7, 128)), Error);  // one sequence needs 8 blocks
  EXPECT_NO_THROW(Scheduler(config(16, 8, 128)));
  SchedulerConfig c = config(16, 8);
  c.max_num_batched_tokens = 0;
  EXPECT_THROW(Scheduler{c}, Error);
}

TEST(Scheduler, AdmitsUpToTheSlotLimitIntoTheLowestFreeSlot) {
  SchedulerConfig c = config(4, 64);
  c.max_num_seqs = 2;
  Driver d(c, kVocab);
  d.add(1, iota_tokens(5), 3);
  d.add(2, iota_tokens(5, 10), 10);
  d.add(3, iota_tokens(5, 20), 10);
  StepPlan p = d.step();
  EXPECT_EQ(ids(p), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(p.seqs[0].slot, 0);
  EXPECT_EQ(p.seqs[1].slot, 1);
  EXPECT_EQ(d.sched.num_running(), 2);
  EXPECT_EQ(d.sched.num_waiting(), 1);
  d.step();
  d.step();  // sequence 1 reaches max_tokens 3
  EXPECT_TRUE(d.results.contains(1));
  p = d.step();
  EXPECT_EQ(ids(p), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(p.seqs[0].slot, 1);  // keeps its slot
  EXPECT_EQ(p.seqs[1].slot, 0);  // the freed one
  d.run_all();
  EXPECT_EQ(d.results.at(3), run_alone(iota_tokens(5, 20), 10, 128, kVocab));
}

TEST(Scheduler, TokenBudgetLimitsAdmissionAndChunksTheLastAdmitted) {
  SchedulerConfig c = config(16, 64);
  c.max_num_batched_tokens = 32;
  Driver d(c, kVocab);
  for (int id = 1; id <= 3; ++id) d.add(id, iota_tokens(20, 100 * id), 4);
  StepPlan p = d.step();
  ASSERT_EQ(ids(p), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(p.seqs[0].tokens.size(), 20u);
  EXPECT_TRUE(p.seqs[0].sample);
  EXPECT_EQ(p.seqs[1].tokens.size(), 12u);  // the budget's remainder
  EXPECT_FALSE(p.seqs[1].sample);
  EXPECT_EQ(d.sched.num_waiting(), 1);  // budget spent: not admitted
  p = d.step();
  ASSERT_EQ(ids(p), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(p.seqs[0].tokens.size(), 1u);  // decode
  EXPECT_EQ(p.seqs[1].start_pos, 12);
  EXPECT_EQ(p.seqs[1].tokens.size(), 8u);
  EXPECT_TRUE(p.seqs[1].sample);
  EXPECT_EQ(p.seqs[2].tokens.size(), 20u);
  EXPECT_EQ(p.num_batched_tokens(), 29);
  d.run_all();
  for (int id = 1; id <= 3; ++id) {
    EXPECT_EQ(d.results.at(id), run_alone(iota_tokens(20, 100 * id), 4, 128, kVocab));
  }
}

TEST(Scheduler, ChunkedPrefillThenOneTokenDecodeSteps) {
  SchedulerConfig c = config(16, 16);
  c.max_num_batched_tokens = 32;
  Driver d(c, kVocab);
  d.add(7, iota_tokens(100), 5);
  const int64_t starts[] = {0, 32, 64, 96}, counts[] = {32, 32, 32, 4}, tables[] = {2, 4, 6, 7};
  for (int i = 0; i < 4; ++i) {
    StepPlan p = d.step();
    ASSERT_EQ(p.seqs.size(), 1u);
    const ScheduledSeq& s = p.seqs[0];
    EXPECT_EQ(s.start_pos, starts[i]);
    EXPECT_EQ(static_cast<int64_t>(s.tokens.size()), counts[i]);
    EXPECT_EQ(static_cast<int64_t>(s.block_table.size()), tables[i]);
    EXPECT_EQ(s.sample, i == 3);
    EXPECT_EQ(s.num_generated, 0);
    EXPECT_EQ(d.sched.blocks().num_used(), tables[i]);  // exactly as needed
  }
  for (int64_t g = 1; g < 5; ++g) {
    const int32_t last = d.truth.at(7).back();
    StepPlan p = d.step();
    ASSERT_EQ(p.seqs.size(), 1u);
    const ScheduledSeq& s = p.seqs[0];
    EXPECT_EQ(s.start_pos, 99 + g);
    EXPECT_EQ(s.tokens, std::vector<int32_t>{last});
    EXPECT_TRUE(s.sample);
    EXPECT_EQ(s.num_generated, g);
    EXPECT_EQ(static_cast<int64_t>(s.block_table.size()), (s.start_pos + 16) / 16);
  }
  EXPECT_FALSE(d.sched.has_work());
  EXPECT_EQ(d.results.at(7), run_alone(iota_tokens(100), 5, 128, kVocab));
  // 104 positions computed: 6 full blocks stay cached, the partial 7th is free.
  EXPECT_EQ(d.sched.blocks().num_used(), 0);
  EXPECT_EQ(d.sched.blocks().num_cached(), 6);
  EXPECT_EQ(d.sched.blocks().num_free(), 16);
}

TEST(Scheduler, BlockTablesGrowOneBlockAtATime) {
  Driver d(config(4, 32, 32), kVocab);
  d.add(1, iota_tokens(6), 20);
  d.add(2, iota_tokens(3, 50), 20);
  while (d.sched.has_work()) {
    d.step();
    d.sched.check_invariants();
    int64_t want = 0;  // every live sequence holds ceil(computed / 4) blocks
    for (const auto& [id, t] : d.truth) want += (static_cast<int64_t>(t.size()) - 1 + 3) / 4;
    EXPECT_EQ(d.sched.blocks().num_used(), want);
  }
  EXPECT_EQ(d.results.size(), 2u);
}

TEST(Scheduler, FinishesAtMaxTokensOnItsOwnAndAtTheCallersWord) {
  Scheduler s(config(4, 32, 32));
  s.add(1, {1, 2, 3}, 2);
  s.add(2, {4, 5}, 5);
  StepPlan p = s.schedule();
  EXPECT_EQ(p.num_batched_tokens(), 5);
  EXPECT_TRUE(s.complete_step({{1, 7}, {2, 8}}, {}).empty());
  p = s.schedule();
  ASSERT_EQ(p.seqs.size(), 2u);
  EXPECT_EQ(p.seqs[0].tokens, std::vector<int32_t>{7});
  EXPECT_EQ(p.seqs[0].num_generated, 1);
  EXPECT_EQ(*s.tokens_of(1), (std::vector<int32_t>{1, 2, 3, 7}));
  // 1 reaches max_tokens (reported); 2 is finished by the caller (not reported).
  EXPECT_EQ(s.complete_step({{1, 9}, {2, 10}}, {2}), std::vector<int64_t>{1});
  EXPECT_FALSE(s.has_work());
  EXPECT_EQ(s.tokens_of(1), nullptr);
  EXPECT_TRUE(s.schedule().seqs.empty());
  EXPECT_EQ(s.blocks().num_used(), 0);
  s.check_invariants();
}

TEST(Scheduler, AbortFreesWaitingAndRunningSequencesAtOnce) {
  SchedulerConfig c = config(4, 32, 32);
  c.max_num_seqs = 2;
  Scheduler s(c);
  s.add(1, iota_tokens(6), 4);
  s.add(2, iota_tokens(6, 10), 4);
  s.add(3, iota_tokens(6, 20), 4);
  StepPlan p = s.schedule();
  s.complete_step({{1, 1}, {2, 2}}, {});
  EXPECT_EQ(s.blocks().num_used(), 4);
  s.abort(2);   // running
  s.abort(3);   // waiting
  s.abort(99);  // unknown: no-op
  EXPECT_EQ(s.num_running(), 1);
  EXPECT_EQ(s.num_waiting(), 0);
  EXPECT_EQ(s.blocks().num_used(), 2);
  s.check_invariants();
  // Aborted while its step is in flight: the step's result is dropped.
  p = s.schedule();
  ASSERT_EQ(ids(p), std::vector<int64_t>{1});
  s.abort(1);
  EXPECT_TRUE(s.complete_step({{1, 5}}, {}).empty());
  EXPECT_FALSE(s.has_work());
  EXPECT_EQ(s.blocks().num_used(), 0);
  EXPECT_EQ(s.blocks().num_free(), 32);
  s.check_invariants();
}

// Two sequences that together outgrow 8 blocks of 4: the newer one is
// preempted, waits, and is recomputed once the older one is done.
void preemption_case(bool prefix_caching) {
  SchedulerConfig c = config(4, 8, 32);
  c.prefix_caching = prefix_caching;
  Driver d(c, kVocab);
  d.add(1, iota_tokens(8), 16);
  d.add(2, iota_tokens(8, 40), 16);
  int64_t preempted_at = -1, resumed_at = -1, resumed_start = -1;
  for (int64_t step = 0; d.sched.has_work() && step < 200; ++step) {
    StepPlan p = d.step();
    d.sched.check_invariants();
    if (!p.preempted.empty()) {
      EXPECT_EQ(p.preempted, std::vector<int64_t>{2});  // the most recently admitted
      EXPECT_EQ(find(p, 2), nullptr);
      EXPECT_NE(find(p, 1), nullptr);
      preempted_at = step;
    }
    const ScheduledSeq* s2 = find(p, 2);
    if (preempted_at >= 0 && resumed_at < 0 && s2) {
      resumed_at = step;
      resumed_start = s2->start_pos;
      EXPECT_GT(s2->num_generated, 0);
    }
  }
  ASSERT_GE(preempted_at, 0);
  ASSERT_GT(resumed_at, preempted_at);
  EXPECT_TRUE(d.results.contains(1) && d.results.contains(2));
  if (prefix_caching) {
    EXPECT_GT(resumed_start, 0);  // what the cache kept of its blocks
    EXPECT_EQ(resumed_start % 4, 0);
  } else {
    EXPECT_EQ(resumed_start, 0);
  }
  EXPECT_EQ(d.results.at(1), run_alone(iota_tokens(8), 16, 32, kVocab));
  EXPECT_EQ(d.results.at(2), run_alone(iota_tokens(8, 40), 16, 32, kVocab));
  EXPECT_EQ(d.sched.blocks().num_used(), 0);
  EXPECT_EQ(d.sched.blocks().num_free(), 8);
}

TEST(Scheduler, PreemptsTheNewestAndRecomputesItFromPositionZero) {
  preemption_case(false);
}

TEST(Scheduler, PreemptedSequenceResumesFromAPrefixHit) {
  preemption_case(true);
}

TEST(Scheduler, SharedPrefixIsComputedOnceAndEvictedLeastRecentlyUsedFirst) {
  Driver d(config(16, 16), kVocab);
  std::vector<int32_t> a = iota_tokens(40, 500), b = a;
  a.insert(a.end(), {1, 2, 3, 4, 5});
  b.insert(b.end(), {6, 7, 8, 9, 10, 11, 12});
  d.add(1, a, 4);
  StepPlan p = d.step();
  std::vector<BlockId> ta = p.seqs[0].block_table;
  d.add(2, b, 4);
  p = d.step();
  ASSERT_EQ(ids(p), (std::vector<int64_t>{1, 2}));
  const ScheduledSeq& s2 = p.seqs[1];
  EXPECT_EQ(s2.start_pos, 32);  // 2 of the 40 shared tokens' blocks are full
  EXPECT_EQ(s2.tokens.size(), 15u);
  EXPECT_EQ(s2.block_table[0], ta[0]);
  EXPECT_EQ(s2.block_table[1], ta[1]);
  EXPECT_NE(s2.block_table[2], ta[2]);
  EXPECT_EQ(d.sched.blocks().ref_count(ta[0]), 2);
  EXPECT_EQ(d.sched.blocks().ref_count(ta[1]), 2);
  EXPECT_EQ(d.sched.blocks().stats().hit_tokens, 32);
  EXPECT_EQ(d.sched.blocks().stats().queried_tokens, 45 + 47);
  std::vector<BlockId> tb = s2.block_table;
  d.run_all();
  EXPECT_EQ(d.results.at(1), run_alone(a, 4, 128, kVocab));
  EXPECT_EQ(d.results.at(2), run_alone(b, 4, 128, kVocab));

  // Both done: each computed 3 full blocks (the first 2 shared), all cached.
  const BlockAllocator& blocks = d.sched.blocks();
  EXPECT_EQ(blocks.num_used(), 0);
  EXPECT_EQ(blocks.num_cached(), 4);
  // Released tails first, 1 before 2: evictable a2, b2, then the shared head.
  d.add(3, iota_tokens(100, 2000), 2);  // 7 blocks from the 12 never cached
  d.add(4, iota_tokens(100, 3000), 2);  // 5 more, then 2 evicted
  p = d.step();
  ASSERT_EQ(ids(p), (std::vector<int64_t>{3, 4}));
  // 4 took the two tails (a2 evicted first); the shared head is still cached.
  const std::vector<BlockId>& t4 = p.seqs[1].block_table;
  EXPECT_EQ(t4[5], ta[2]);
  EXPECT_EQ(t4[6], tb[2]);
  EXPECT_TRUE(blocks.is_cached(ta[0]) && blocks.is_cached(ta[1]));
  EXPECT_EQ(blocks.ref_count(ta[0]), 0);
  d.run_all();
  d.add(5, b, 1);  // still hits the shared head
  p = d.step();
  EXPECT_EQ(p.seqs[0].start_pos, 32);
  d.run_all();
  EXPECT_EQ(blocks.num_used(), 0);
}

TEST(Scheduler, BlocksComputedTwiceInOneStepStillChainInTheCache) {
  Driver d(config(16, 32), kVocab);
  std::vector<int32_t> a = iota_tokens(32, 7), b = a;  // 2 shared blocks, then different
  a.insert(a.end(), 8, 1);
  b.insert(b.end(), 8, 2);
  d.add(1, a, 20);
  d.add(2, b, 20);
  StepPlan p = d.step();
  EXPECT_EQ(p.seqs[1].start_pos, 0);  // computed side by side: nothing cached yet
  std::vector<BlockId> tb = p.seqs[1].block_table;
  d.run_all();
  EXPECT_EQ(d.results.at(2), run_alone(b, 20, 128, kVocab));
  // 2's copies of the shared blocks lost to 1's; its own third block chains to
  // 1's, so a continuation of 2 finds all three (59 computed: 3 full blocks).
  EXPECT_FALSE(d.sched.blocks().is_cached(tb[0]));
  EXPECT_TRUE(d.sched.blocks().is_cached(tb[2]));
  std::vector<int32_t> more = d.results.at(2);
  more.push_back(1);
  d.add(3, more, 1);
  p = d.step();
  EXPECT_EQ(p.seqs[0].start_pos, 48);
  EXPECT_EQ(p.seqs[0].block_table[2], tb[2]);
  d.run_all();
  EXPECT_EQ(d.sched.blocks().num_used(), 0);
}

}  // namespace
}  // namespace meshlm

namespace meshlm {
namespace {

// Sliding-window models: each running sequence holds a ring of window
// blocks, distinct from every other running sequence's, from admission until
// it finishes or is preempted; admission waits for a free ring.
TEST(Scheduler, WindowRingsAreHeldWhileRunningAndComeBack) {
  SchedulerConfig c = config(4, 64, 64);
  c.prefix_caching = false;
  c.max_num_seqs = 3;
  c.window_blocks_per_seq = 3;
  c.num_window_blocks = 6;  // two rings: the third sequence waits
  Scheduler s(c);
  for (int64_t id = 1; id <= 3; ++id) s.add(id, iota_tokens(5, static_cast<int32_t>(id)), 4);
  StepPlan p = s.schedule();
  ASSERT_EQ(ids(p), (std::vector<int64_t>{1, 2}));
  std::vector<BlockId> held;
  for (const ScheduledSeq& q : p.seqs) {
    ASSERT_EQ(q.window_table.size(), 3u);
    held.insert(held.end(), q.window_table.begin(), q.window_table.end());
  }
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<BlockId>{0, 1, 2, 3, 4, 5}));
  s.check_invariants();
  s.complete_step({{1, 7}, {2, 7}}, {1});  // 1 finishes: its ring comes back
  p = s.schedule();
  EXPECT_EQ(ids(p), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(find(p, 3)->window_table.size(), 3u);
  s.check_invariants();
  s.complete_step({{2, 7}, {3, 7}}, {2, 3});
  s.check_invariants();
  EXPECT_FALSE(s.has_work());
  // Rings and prefix caching do not mix; a ring pool smaller than a ring is an error.
  SchedulerConfig bad = c;
  bad.prefix_caching = true;
  EXPECT_THROW(Scheduler{bad}, Error);
  bad = c;
  bad.num_window_blocks = 2;
  EXPECT_THROW(Scheduler{bad}, Error);
}

}  // namespace
}  // namespace meshlm

// Continuous-batching scheduler (vLLM v1-like) over a paged KV cache: decides,
// step by step, which sequences run, which of their tokens are fed, into which
// KV slot and blocks; the executor runs the plan and reports back. Pure C++,
// no model code. docs/DESIGN.md (scheduler section).
//
// Protocol, one step at a time:
//   StepPlan plan = s.schedule();          // nothing to do: plan.seqs empty
//   ... executor feeds every plan.seqs[i], samples where sample == true ...
//   s.complete_step(sampled, finished);    // before the next schedule()
// add() and abort() may be called at any point; blocks freed by abort() are
// handed out again only by the next schedule(), so an abort during a step in
// flight is safe.
//
// A sequence is `tokens` (prompt + generated so far) of which `computed` are
// in the KV cache; each step feeds tokens[computed, computed + count). Prefill
// is chunked by the step's token budget; a decode step feeds 1 token (the one
// sampled last). A preempted sequence loses its KV (computed = 0, blocks
// released) and is recomputed later from its whole token list, reusing
// whatever prefix the cache still holds.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

#include "scheduler/block_allocator.h"

namespace meshlm {

struct SchedulerConfig {
  int64_t max_num_seqs = 8;              // sequences running at once (= KV slots)
  int64_t max_num_batched_tokens = 256;  // tokens per step, all sequences together
  int64_t max_model_len = 512;           // positions per sequence
  int64_t block_size = 16;
  int64_t num_blocks = 0;  // >= ceil(max_model_len / block_size)
  bool prefix_caching = true;
  // Models with sliding-window layers (paged KV, docs/DESIGN.md §4): each
  // running sequence also holds a ring of window_blocks_per_seq blocks of a
  // second pool of num_window_blocks, taken at admission and given back with
  // its slot. Prefix caching cannot share rings: it must be off.
  int64_t window_blocks_per_seq = 0;
  int64_t num_window_blocks = 0;
};

// One sequence's work in a step: feed tokens[start_pos .. start_pos+count) of the
// sequence (they are `tokens`) at those positions, into KV slot `slot`, whose
// block table (positions 0 .. start_pos+count-1) is `block_table`: position p
// lives in block block_table[p / block_size] at offset p % block_size.
struct ScheduledSeq {
  int64_t seq_id = 0;
  int32_t slot = 0;                   // 0 .. max_num_seqs-1, fixed while the sequence runs
  int64_t start_pos = 0;              // = tokens already in the KV cache (prefix hits included)
  std::vector<int32_t> tokens;        // the tokens fed this step (>= 1)
  std::vector<BlockId> block_table;   // ceil((start_pos+count)/block_size) entries
  std::vector<BlockId> window_table;  // its ring of window blocks (window_blocks_per_seq)
  bool sample = false;                // this chunk reaches the end of the sequence's known tokens:
                        // the executor samples the next token (from the last position)
  int64_t num_generated = 0;  // tokens this sequence had generated before this step
};

struct StepPlan {
  std::vector<ScheduledSeq> seqs;  // running first (admission order), then newly admitted
  std::vector<int64_t> preempted;  // seq ids preempted this step (recomputed later)
  int64_t num_batched_tokens() const;
};

class Scheduler {
 public:
  // Config errors (sizes < 1, a KV cache too small for one max_model_len
  // sequence) throw meshlm::Error.
  explicit Scheduler(const SchedulerConfig& config);

  // Queues a new sequence (FIFO). prompt non-empty, max_tokens >= 1 and
  // prompt.size() + max_tokens <= max_model_len are the caller's checks
  // (asserted), as are unique seq ids.
  void add(int64_t seq_id, std::vector<int32_t> prompt, int64_t max_tokens);

  // Removes a sequence wherever it is (waiting or running), freeing its slot and
  // blocks now. Unknown id: no-op (it may have finished already).
  void abort(int64_t seq_id);

  // Decides the next step. Empty plan when nothing to do. The previous
  // non-empty plan must have been completed (asserted).
  StepPlan schedule();

  // After the executor ran the plan: for each scheduled seq with sample == true,
  // sampled[seq_id] is the new token (appended to the sequence's tokens; a token
  // for any other sequence is a bug, asserted). Every scheduled seq's computed
  // count advances by its fed tokens; blocks that became full are committed to
  // the prefix cache. `finished` lists seq ids that are done (decided by the
  // caller: stop token, stop string...; unknown ids ignored): they are freed.
  // A sequence that reached max_tokens generated or max_model_len tokens is
  // finished by the scheduler itself: returns those ids (not the caller's).
  // Sequences aborted since schedule() are skipped.
  std::vector<int64_t> complete_step(const std::map<int64_t, int32_t>& sampled,
                                     const std::vector<int64_t>& finished);

  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  const BlockAllocator& blocks() const { return blocks_; }
  const SchedulerConfig& config() const { return config_; }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

  // A live sequence's tokens (prompt + generated), or nullptr. For tests and
  // for callers that need the text so far (stop strings).
  const std::vector<int32_t>* tokens_of(int64_t seq_id) const;

  // Asserts (MESHLM_CHECK) the bookkeeping between steps: slots unique, every
  // running sequence's block table covers exactly its computed positions,
  // every block's ref count equals the number of tables holding it, waiting
  // sequences hold nothing. O(blocks + tokens). For tests and debugging.
  void check_invariants() const;

 private:
  struct Seq {
    int64_t id = 0;
    std::vector<int32_t> tokens;  // prompt + generated
    int64_t prompt_len = 0;
    int64_t max_tokens = 0;
    int64_t computed = 0;         // tokens in the KV cache
    int64_t committed = 0;        // leading blocks committed to the prefix cache
    int32_t slot = -1;            // -1: waiting
    std::vector<BlockId> blocks;  // block table
    std::vector<BlockId> window;  // ring of window blocks (while running)
  };
  struct Fed {  // one entry of the plan in flight
    int64_t seq_id, count;
    bool sample;
  };

  int64_t blocks_for(int64_t positions) const;
  bool grow(Seq& s, int64_t positions);  // allocate blocks up to `positions`; false if short
  void preempt(Seq& s);
  void free_seq(int64_t seq_id);  // abort/finish: release, drop from queues and the map
  int32_t take_slot();
  void release_slot(Seq& s);  // the slot and the ring go back

  SchedulerConfig config_;
  BlockAllocator blocks_;
  std::unordered_map<int64_t, Seq> seqs_;
  std::vector<int64_t> running_;  // admission order
  std::deque<int64_t> waiting_;   // FIFO; preempted ones go to the front
  std::vector<bool> slot_used_;
  std::vector<BlockId> window_free_;  // free blocks of the window pool
  std::vector<Fed> in_flight_;
  bool pending_ = false;  // a non-empty plan awaits complete_step
};

}  // namespace meshlm

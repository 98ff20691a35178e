// Engine: one device's part of a sharded Llama-family model — the library
// API of the runtime (mesh-run generate, mesh-bench decode/prefill, tests).
//
//   DeviceMesh mesh(MPI_COMM_WORLD, plan.mesh);
//   DeviceMemory memory(capacity, mesh.rank());
//   auto ckpt = open_checkpoint(path);              // or synthetic_checkpoint(config, seed)
//   Engine engine(*ckpt, plan, mesh, memory);       // loads this rank's shard only
//   engine.prefill({{slot, prompt_ids}, ...});      // batched, chunked prefill
//   engine.logits(i)  -> full-vocabulary logits of the i-th prefilled slot
//   engine.decode_step(slots, tokens);              // one token per listed slot
//
// Every rank of a dp replica (its mp group) makes the same calls with the
// same arguments; dp replicas run independently (each serves its own
// sequences, slots 0 .. batch_local-1). Everything is allocated in the
// constructor: weights, the KV cache and the activation buffers, so prefill
// and decode_step allocate nothing.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "model/io/checkpoint.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "model/ops/rope.h"
#include "model/ops/sampling.h"
#include "model/runtime_layout.h"
#include "model/weights.h"
#include "model/workspace.h"
#include "sharding/plan.h"

namespace meshlm {

// How a forward pass keeps its logits: all-gathered over mp (for sampling
// from logits(i)), or as each rank's vocabulary slice (greedy_tokens only).
enum class Logits { gathered, sharded };

// One prompt for prefill: tokens appended to slot `slot` at its next positions.
struct SlotTokens {
  int32_t slot = 0;
  std::span<const int32_t> tokens;
};

// The paged KV pools of this device (model/kv_cache.h): a ring of window
// blocks for every slot (models with sliding-window layers), and as many
// full-attention blocks of block_size positions as fit in `memory` next to
// the weights, activations, comm buffers and that ring pool, keeping
// `reserve` bytes free (the planner's KV budget).
KvPaging paged_kv_that_fits(const ModelConfig& config, const Plan& plan, const DeviceMesh& mesh,
                            const DeviceMemory& memory, int64_t block_size, uint64_t reserve);

class Engine {
 public:
  // Validates (runtime_layout), then loads this device's blocks and
  // preallocates the KV cache and activations. Collective-free: wrap it in
  // all_agree so that every rank exits together on a bad input.
  // `paging`: the KV cache's organisation (model/kv_cache.h); static by default.
  Engine(const Checkpoint& checkpoint, const Plan& plan, const DeviceMesh& mesh,
         DeviceMemory& memory, const LoadProgressFn& progress = {}, const KvPaging& paging = {});

  const ModelConfig& config() const { return config_; }
  const ShardLayout& layout() const { return layout_; }
  const Plan& plan() const { return plan_; }
  int64_t batch_local() const { return layout_.batch_local; }
  int64_t seq_len() const { return layout_.seq_len; }
  const AxisGroup& mp_group() const { return mp_; }
  DeviceMemory& memory() const { return memory_; }

  // MoE load balance: tokens routed to expert e of layer l so far, at
  // [l * E + e] (every forward pass of this replica; empty for dense models).
  const std::vector<int64_t>& expert_token_counts() const { return expert_tokens_; }

  // Tokens already in slot's cache (its next position).
  int64_t position(int32_t slot) const { return positions_[static_cast<size_t>(slot)]; }
  void reset(int32_t slot) { positions_[static_cast<size_t>(slot)] = 0; }
  void reset_all();
  // Paged KV cache only: slot's next position is `position` (its first
  // `position` tokens are in the cache already, e.g. a shared prefix), its
  // full-attention blocks are `blocks` and its ring of sliding-window blocks
  // `window_blocks` (model/kv_cache.h).
  void assign(int32_t slot, int64_t position, std::span<const int32_t> blocks,
              std::span<const int32_t> window_blocks = {});
  const KVCache& kv_cache() const { return kv_; }

  // Appends each prompt to its slot (distinct slots, at most batch_local of
  // them), running the model over all their tokens in forward passes of at
  // most max(prefill_chunk, batch_local) rows — one GEMM per weight per pass.
  // Afterwards row i of the logits is the last token of prompts[i]; `want`
  // says how they are kept (Logits::gathered: logits(i) reads them;
  // Logits::sharded: only greedy_tokens() can).
  void prefill(std::span<const SlotTokens> prompts, Logits want = Logits::gathered);
  // Feeds tokens[i] to slots[i] at its next position; afterwards row i of the
  // logits is that slot's next-token logits, kept as `want` says.
  void decode_step(std::span<const int32_t> slots, std::span<const int32_t> tokens,
                   Logits want = Logits::gathered);

  // Full-vocabulary logits of the i-th sequence of the last prefill or
  // decode_step run with Logits::gathered (bit-identical on every rank of the
  // mp group). Writable: the sampler turns them into probabilities in place.
  LogitsView logits(int64_t i);
  int64_t logits_count() const { return logits_count_; }

  // The greedy next token of each sequence of the last prefill/decode_step
  // (out[i] for logits row i; ties go to the lowest id), computed where the
  // logits are: each rank's argmax over its vocabulary slice, then one
  // all-gather over mp of a (value, id) record per sequence instead of the
  // logits. Collective over the mp group; afterwards logits(i) is invalid.
  void greedy_tokens(std::span<int32_t> out);

 private:
  // The raw forward pass: runs `n` tokens (of one or more sequences; the rows
  // of a sequence in increasing position order) through the model; for the
  // rows listed in logit_rows computes this rank's vocabulary slice of the
  // logits into logits rows out0, out0+1, ...
  void forward(const TokenRow* rows, int64_t n, const int64_t* logit_rows, int64_t m, int64_t out0);
  // Records the m logits rows of the pass and all-gathers them over mp when
  // `want` is Logits::gathered and the vocabulary is sharded.
  void finish_pass(int64_t m, Logits want);

  // A rank's best logit over its vocabulary slice and its global id.
  struct Candidate {
    float value;
    int32_t id;
  };

  ModelConfig config_;
  Plan plan_;
  const DeviceMesh& mesh_;
  DeviceMemory& memory_;
  ShardLayout layout_;
  const AxisGroup& mp_;
  Rope rope_;
  ModelWeights weights_;
  KVCache kv_;
  Workspace ws_;
  std::vector<int64_t> positions_;      // [B_l] next position per slot
  std::vector<TokenRow> rows_;          // [rows] scratch of one forward pass (preallocated)
  std::vector<int32_t> tokens_;         // [rows]
  std::vector<int64_t> logit_rows_;     // [B_l]
  std::vector<Candidate> candidates_;   // [mp][B_l] greedy_tokens scratch (preallocated)
  std::vector<int64_t> expert_tokens_;  // [L][E]
  int64_t logits_count_ = 0;
  // What the logits rows of the last pass hold: nothing (after greedy_tokens),
  // this rank's slice (sharded) or the full vocabulary (gathered).
  enum class LogitsState { none, sharded, gathered } logits_state_ = LogitsState::none;
};

}  // namespace meshlm

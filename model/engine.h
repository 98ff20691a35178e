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

// One prompt for prefill: tokens appended to slot `slot` at its next positions.
struct SlotTokens {
  int32_t slot = 0;
  std::span<const int32_t> tokens;
};

class Engine {
 public:
  // Validates (runtime_layout), then loads this device's blocks and
  // preallocates the KV cache and activations. Collective-free: wrap it in
  // all_agree so that every rank exits together on a bad input.
  Engine(const Checkpoint& checkpoint, const Plan& plan, const DeviceMesh& mesh,
         DeviceMemory& memory, const LoadProgressFn& progress = {});

  const ModelConfig& config() const { return config_; }
  const ShardLayout& layout() const { return layout_; }
  const Plan& plan() const { return plan_; }
  int64_t batch_local() const { return layout_.batch_local; }
  int64_t seq_len() const { return layout_.seq_len; }
  const AxisGroup& mp_group() const { return mp_; }
  DeviceMemory& memory() const { return memory_; }

  // Tokens already in slot's cache (its next position).
  int64_t position(int32_t slot) const { return positions_[static_cast<size_t>(slot)]; }
  void reset(int32_t slot) { positions_[static_cast<size_t>(slot)] = 0; }
  void reset_all();

  // Appends each prompt to its slot (distinct slots, at most batch_local of
  // them), running the model over all their tokens in forward passes of at
  // most max(prefill_chunk, batch_local) rows — one GEMM per weight per pass.
  // Afterwards logits(i) holds the logits of the last token of prompts[i]
  // (with gather = false only greedy_tokens() can read them: the
  // vocabulary-sharded logits are not all-gathered).
  void prefill(std::span<const SlotTokens> prompts, bool gather = true);
  // Feeds tokens[i] to slots[i] at its next position; afterwards logits(i)
  // holds that slot's next-token logits.
  void decode_step(std::span<const int32_t> slots, std::span<const int32_t> tokens,
                   bool gather = true);

  // Full-vocabulary logits of the i-th sequence of the last prefill or
  // decode_step (bit-identical on every rank of the mp group). Writable: the
  // sampler turns them into probabilities in place.
  LogitsView logits(int64_t i);
  int64_t logits_count() const { return logits_count_; }

  // The greedy next token of each sequence of the last prefill/decode_step
  // (out[i] for logits row i; ties go to the lowest id), computed where the
  // logits are: each rank's argmax over its vocabulary slice, then one
  // all-gather over mp of (value, id) per sequence instead of the logits.
  // Collective over the mp group; invalidates logits(i).
  void greedy_tokens(std::span<int32_t> out);

  // The raw forward pass: runs `n` tokens (of one or more sequences; the rows
  // of a sequence in increasing position order) through the model; for the rows listed in
  // logit_rows computes the logits into logits rows out0, out0+1, ... (this rank's vocabulary slice
  // until gather_logits).
  void forward(const TokenRow* rows, int64_t n, const int64_t* logit_rows, int64_t m, int64_t out0);
  // All-gathers the first m rows of logits over mp (when vocab-sharded).
  void gather_logits(int64_t m);

 private:
  void finish_pass(int64_t m, bool gather);

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
  std::vector<int64_t> positions_;   // [B_l] next position per slot
  std::vector<TokenRow> rows_;       // [rows] scratch of one forward pass (preallocated)
  std::vector<int32_t> tokens_;      // [rows]
  std::vector<int64_t> logit_rows_;  // [B_l]
  int64_t logits_count_ = 0;
  bool gathered_ = false;  // logits_gathered holds the full logits of the last pass
};

}  // namespace meshlm

// Batched generation on a mesh: the prompts are split over the dp replicas
// (global sequence i runs on dp row i % dp, slot i / dp), each replica
// prefills its sequences together and then decodes all its active sequences
// together, one token per step, until each one stops; the outputs are
// gathered so that every rank returns all sequences.
//
// Semantics (those of the llama2.c reference loop, docs/DESIGN.md §5 and
// tests/data/README.md): position p is fed the prompt token p, or the last
// sampled one; the first generated id is sampled from the logits at
// position len(prompt)-1; a sampled stop id ends the sequence without being
// recorded. max_new_tokens counts recorded ids, so a run with
// max_new_tokens N uses positions 0 .. len(prompt)+N-2 — the reference's
// `max_positions` M corresponds to N = M - len(prompt) + 1 (its 65-position
// run from prompt [1] records 65 ids; --max-new-tokens 64 yields the first 64
// of them). A sequence also stops when its next token would not fit in the
// KV cache (position seq_len).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "collectives/stats.h"
#include "mesh/device_mesh.h"
#include "model/engine.h"
#include "model/ops/sampling.h"

namespace meshlm {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingParams sampling;        // temperature 0 = greedy
  uint64_t seed = 0;              // RNG streams: Rng::for_sequence(seed, global index)
  std::vector<int32_t> stop_ids;  // sampled -> the sequence ends (id not recorded)
};

enum class FinishReason { stop, length, seq_len };
const char* finish_name(FinishReason r);  // "stop", "length", "seq_len"

struct SequenceOutput {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> generated_ids;
  FinishReason finish = FinishReason::length;
};

// Seconds are the slowest rank's; token counts are over the whole mesh.
struct GenerateTiming {
  double prefill_s = 0;  // prefill passes + first sampling (= time to first token)
  double decode_s = 0;   // all decode steps
  int64_t prompt_tokens = 0;
  int64_t decode_tokens = 0;         // tokens fed by decode steps (summed over dp replicas)
  std::vector<double> collective_s;  // per rank: seconds in collectives during generation
  std::vector<double> busy_s;        // per rank: prefill + decode seconds
  // Per rank, per collective used during generation (all_reduce, all_gather).
  std::vector<std::map<std::string, CollectiveCounter>> collectives;
  double ttft_s() const { return prefill_s; }
  double prefill_tok_s() const { return prefill_s > 0 ? prompt_tokens / prefill_s : 0; }
  double decode_tok_s() const { return decode_s > 0 ? decode_tokens / decode_s : 0; }
};

struct GenerateResult {
  std::vector<SequenceOutput> sequences;  // in prompt order, on every rank
  GenerateTiming timing;
  // MoE load balance: tokens routed to expert e of layer l during this call,
  // at [l * E + e], summed over the dp replicas (empty for dense models).
  std::vector<int64_t> expert_tokens;
};

// (global sequence index, token): called as tokens are recorded, on the rank
// with mp index 0 of the replica running the sequence.
using TokenCallback = std::function<void(int64_t, int32_t)>;

// Checks the prompts against the model and the plan before anything runs:
// at least one, at most the plan's batch, each non-empty, no longer than
// seq_len, every id inside the vocabulary. Throws meshlm::Error naming the
// prompt, the position and the limit.
void validate_prompts(const ModelConfig& config, const ShardLayout& layout,
                      const std::vector<std::vector<int32_t>>& prompts,
                      const GenerateOptions& options);

// Collective over the whole mesh: every rank passes the same prompts/options.
GenerateResult generate(Engine& engine, const DeviceMesh& mesh,
                        const std::vector<std::vector<int32_t>>& prompts,
                        const GenerateOptions& options, const TokenCallback& on_token = {});

}  // namespace meshlm

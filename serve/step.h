// What world rank 0 tells every rank each serving step, and what comes back:
// the work of each dp replica (the scheduler's plan plus each sequence's
// sampling parameters) and the tokens its sequences sampled. Both travel as
// bytes (encode/decode here, one home for the wire format) through Lockstep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "model/ops/sampling.h"

namespace meshlm {

// One sequence's part of a step (scheduler/scheduler.h ScheduledSeq) and how
// to sample its next token when `sample`.
struct SeqWork {
  int64_t seq_id = 0;
  int32_t slot = 0;
  int64_t start_pos = 0;              // tokens already in its KV cache
  std::vector<int32_t> tokens;        // fed at start_pos, start_pos+1, ...
  std::vector<int32_t> block_table;   // KV blocks of positions 0 .. start_pos+|tokens|-1
  std::vector<int32_t> window_table;  // its ring of sliding-window blocks (if any)
  bool sample = false;
  int64_t num_generated = 0;  // index of the token sampled now: its RNG stream
  SamplingParams sampling;    // temperature 0 = greedy
  uint64_t seed = 0;          // draw i uses Rng::for_sequence(seed, i)
  int32_t logprobs = -1;      // -1: none; N >= 0: the sampled token's logprob and the top N
};

struct StepMessage {
  bool shutdown = false;                       // every rank leaves the serving loop
  std::vector<std::vector<SeqWork>> replicas;  // [dp]
};

// One (id, log-probability) of a token's distribution.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

// The token a sequence sampled in a step.
struct SeqResult {
  int64_t seq_id = 0;
  int32_t token = 0;
  float logprob = 0;              // of `token` (when asked for)
  std::vector<TokenLogprob> top;  // the N most probable, best first (when asked for)
};

std::vector<std::byte> encode(const StepMessage& m);
StepMessage decode_step(std::span<const std::byte> bytes);
std::vector<std::byte> encode(const std::vector<SeqResult>& results);
std::vector<SeqResult> decode_results(std::span<const std::byte> bytes);

}  // namespace meshlm

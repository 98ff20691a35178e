// Runs one dp replica's part of a serving step on its Engine: sets each
// sequence's KV slot and blocks, feeds all their tokens in one batched
// forward (chunks of prompts and single decode tokens alike), and samples the
// next token of the sequences that reached the end of what they know.
// Every rank of the replica's mp group calls it with the same work.
#pragma once

#include <vector>

#include "model/engine.h"
#include "serve/step.h"

namespace meshlm {

// Collective over the engine's mp group. Greedy sequences without logprobs
// use the distributed argmax (Engine::greedy_tokens); otherwise the logits
// are gathered and every rank samples the same token (model/ops/sampling.h).
// Returns one result per sequence with `sample`, in work order.
std::vector<SeqResult> run_replica_step(Engine& engine, const std::vector<SeqWork>& work);

// log of the softmax's normaliser, log sum_v exp(logits[v]): the
// log-probability of token t is logits[t] minus it.
double log_normalizer(const LogitsView& logits);
// The n most probable ids (best first, ties to the lower id) and their log-probabilities.
std::vector<TokenLogprob> top_logprobs(const LogitsView& logits, int32_t n, double log_z);

}  // namespace meshlm

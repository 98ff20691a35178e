#include "serve/executor.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace meshlm {

double log_normalizer(const LogitsView& logits) {
  const int64_t V = logits.vocab();
  double max_val = logits.at(0);
  for (int64_t v = 1; v < V; ++v) max_val = std::max<double>(max_val, logits.at(v));
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(logits.at(v) - max_val);
  return max_val + std::log(sum);
}

std::vector<TokenLogprob> top_logprobs(const LogitsView& logits, int32_t n, double log_z) {
  const int64_t V = logits.vocab(), k = std::min<int64_t>(n, V);
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    const float la = logits.at(a), lb = logits.at(b);
    return la > lb || (la == lb && a < b);
  });
  std::vector<TokenLogprob> top;
  for (int64_t i = 0; i < k; ++i) {
    const int32_t id = ids[static_cast<size_t>(i)];
    top.push_back({id, static_cast<float>(logits.at(id) - log_z)});
  }
  return top;
}

std::vector<SeqResult> run_replica_step(Engine& engine, const std::vector<SeqWork>& work) {
  std::vector<SeqResult> results;
  if (work.empty()) return results;
  std::vector<SlotTokens> feed;
  feed.reserve(work.size());
  bool distributed_argmax = true;
  for (const SeqWork& w : work) {
    engine.assign(w.slot, w.start_pos, w.block_table, w.window_table);
    feed.push_back({w.slot, w.tokens});
    if (w.sample && (w.sampling.temperature > 0 || w.logprobs >= 0)) distributed_argmax = false;
  }
  engine.prefill(feed, distributed_argmax ? Logits::sharded : Logits::gathered);
  if (distributed_argmax) {
    std::vector<int32_t> greedy(work.size());
    engine.greedy_tokens(greedy);
    for (size_t i = 0; i < work.size(); ++i)
      if (work[i].sample) results.push_back({work[i].seq_id, greedy[i], 0.0f, {}});
    return results;
  }
  for (size_t i = 0; i < work.size(); ++i) {
    const SeqWork& w = work[i];
    if (!w.sample) continue;
    const LogitsView logits = engine.logits(static_cast<int64_t>(i));
    SeqResult r{w.seq_id, 0, 0.0f, {}};
    if (w.logprobs < 0) {
      Rng rng = Rng::for_sequence(w.seed, static_cast<uint64_t>(w.num_generated));
      r.token = sample(logits, w.sampling, rng);
    } else {
      // The logprobs are the model's (before temperature): sample from a copy,
      // since sample() turns the logits into probabilities in place.
      const double log_z = log_normalizer(logits);
      r.top = top_logprobs(logits, w.logprobs, log_z);
      std::vector<float> copy(static_cast<size_t>(logits.vocab()));
      for (int64_t v = 0; v < logits.vocab(); ++v) copy[static_cast<size_t>(v)] = logits.at(v);
      const LogitsView view{copy.data(), logits.vocab(), logits.vocab(), 1};
      Rng rng = Rng::for_sequence(w.seed, static_cast<uint64_t>(w.num_generated));
      r.token = sample(view, w.sampling, rng);
      r.logprob = static_cast<float>(logits.at(r.token) - log_z);
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace meshlm

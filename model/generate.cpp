#include "model/generate.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "collectives/stats.h"
#include "model/gather_values.h"
#include "sharding/error.h"

namespace meshlm {

namespace {

constexpr const char* kOps[] = {"all_reduce", "all_gather"};
constexpr size_t kNumOps = std::size(kOps);

// This rank's counters of kOps.
std::array<CollectiveCounter, kNumOps> op_counters() {
  std::array<CollectiveCounter, kNumOps> out;
  const auto& c = collective_stats().counters();
  for (size_t k = 0; k < kNumOps; ++k)
    if (auto it = c.find(kOps[k]); it != c.end()) out[k] = it->second;
  return out;
}

// One rank's figures of a generate() call, gathered as a record.
struct RankFigures {
  double prefill_s = 0, decode_s = 0, collective_s = 0;
  int64_t decode_rows = 0;
  std::array<CollectiveCounter, kNumOps> ops{};  // during generation
};

}  // namespace

const char* finish_name(FinishReason r) {
  switch (r) {
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::seq_len:
      return "seq_len";
  }
  return "?";
}

void validate_prompts(const ModelConfig& c, const ShardLayout& layout,
                      const std::vector<std::vector<int32_t>>& prompts,
                      const GenerateOptions& options) {
  if (prompts.empty())
    MESHLM_FAIL("no prompt given (use --prompt, --prompt-ids or --prompts-file)");
  const int64_t batch = layout.batch_local * layout.dp;
  if (static_cast<int64_t>(prompts.size()) > batch)
    MESHLM_FAIL(prompts.size() << " prompts do not fit the plan's batch of " << batch
                               << " sequences");
  if (options.max_new_tokens < 0)
    MESHLM_FAIL("max_new_tokens is " << options.max_new_tokens << " (expected >= 0)");
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    if (p.empty())
      MESHLM_FAIL("prompt " << i << " is empty (it needs at least one token, e.g. BOS)");
    if (static_cast<int64_t>(p.size()) > layout.seq_len)
      MESHLM_FAIL("prompt " << i << " has " << p.size()
                            << " tokens, longer than the sequence length " << layout.seq_len
                            << " (raise --seq-len, at most the model's "
                            << c.max_position_embeddings << ")");
    for (size_t t = 0; t < p.size(); ++t)
      if (p[t] < 0 || p[t] >= c.vocab_size)
        MESHLM_FAIL("prompt " << i << " token " << t << " is id " << p[t]
                              << ", outside the vocabulary 0.." << c.vocab_size - 1);
  }
  // Written so that NaN fails every comparison: it is refused, not ignored.
  if (!(options.sampling.temperature >= 0 && std::isfinite(options.sampling.temperature)) ||
      options.sampling.top_k < 0 ||
      !(options.sampling.top_p > 0.0f && options.sampling.top_p <= 1.0f))
    MESHLM_FAIL("sampling needs a finite temperature >= 0, top_k >= 0 and 0 < top_p <= 1 (got "
                << options.sampling.temperature << ", " << options.sampling.top_k << ", "
                << options.sampling.top_p << ")");
}

GenerateResult generate(Engine& engine, const DeviceMesh& mesh,
                        const std::vector<std::vector<int32_t>>& prompts,
                        const GenerateOptions& opt, const TokenCallback& on_token) {
  const ShardLayout& L = engine.layout();
  validate_prompts(engine.config(), L, prompts, opt);
  const int64_t count = static_cast<int64_t>(prompts.size());
  // A sequence records at most seq_len - len(prompt) + 1 ids (its last
  // position is seq_len - 1): every buffer below, the gathered record
  // included, is sized by that bound, never by the option alone.
  const int64_t B = L.batch_local, S = L.seq_len, N = std::min(opt.max_new_tokens, S);
  const bool speaker = L.mp_index == 0 && on_token;

  // This replica's sequences: global g -> slot g / dp.
  std::vector<int64_t> global_of;  // [slot]
  for (int64_t g = L.dp_index; g < count; g += L.dp) global_of.push_back(g);
  const int64_t local = static_cast<int64_t>(global_of.size());
  std::vector<Rng> rng;
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(local));
  std::vector<FinishReason> finish(static_cast<size_t>(local), FinishReason::length);
  std::vector<SlotTokens> slots;
  for (int64_t s = 0; s < local; ++s) {
    const int64_t g = global_of[static_cast<size_t>(s)];
    rng.push_back(Rng::for_sequence(opt.seed, static_cast<uint64_t>(g)));
    out[static_cast<size_t>(s)].reserve(static_cast<size_t>(N));
    slots.push_back({static_cast<int32_t>(s), prompts[static_cast<size_t>(g)]});
  }
  // Active sequences of the decode loop, preallocated: slot and last token.
  std::vector<int32_t> active_slot(static_cast<size_t>(B)), active_token(static_cast<size_t>(B));
  // Greedy decoding never gathers the logits: a distributed argmax
  // (Engine::greedy_tokens) moves one (value, id) pair per sequence and rank
  // instead of the vocabulary.
  const bool greedy = opt.sampling.temperature <= 0.0f || opt.sampling.top_k == 1;
  const Logits logits_mode = greedy ? Logits::sharded : Logits::gathered;
  std::vector<int32_t> next(static_cast<size_t>(B));
  auto next_token = [&](int64_t row, int32_t slot) {
    return greedy ? next[static_cast<size_t>(row)]
                  : sample(engine.logits(row), opt.sampling, rng[static_cast<size_t>(slot)]);
  };
  int64_t active = 0, decode_rows = 0;

  // Records a sampled token for slot s; returns whether the sequence goes on.
  auto accept = [&](int64_t s, int32_t token) {
    const size_t i = static_cast<size_t>(s);
    if (std::find(opt.stop_ids.begin(), opt.stop_ids.end(), token) != opt.stop_ids.end()) {
      finish[i] = FinishReason::stop;
      return false;
    }
    out[i].push_back(token);
    if (speaker) on_token(global_of[i], token);
    if (static_cast<int64_t>(out[i].size()) >= N) {
      finish[i] = FinishReason::length;
      return false;
    }
    if (engine.position(static_cast<int32_t>(s)) >= S) {
      finish[i] = FinishReason::seq_len;
      return false;
    }
    active_slot[static_cast<size_t>(active)] = static_cast<int32_t>(s);
    active_token[static_cast<size_t>(active)] = token;
    ++active;
    return true;
  };

  engine.reset_all();
  const std::vector<int64_t> experts0 = engine.expert_token_counts();
  const double coll0 = collective_stats().total_seconds();
  const auto ops0 = op_counters();
  const double t0 = MPI_Wtime();
  if (local > 0 && N > 0) {
    engine.prefill(slots, logits_mode);
    if (greedy) engine.greedy_tokens({next.data(), static_cast<size_t>(local)});
    for (int64_t s = 0; s < local; ++s) accept(s, next_token(s, static_cast<int32_t>(s)));
  }
  const double t1 = MPI_Wtime();
  // Decode: all active sequences of this replica together, one token each.
  while (active > 0) {
    engine.decode_step({active_slot.data(), static_cast<size_t>(active)},
                       {active_token.data(), static_cast<size_t>(active)}, logits_mode);
    if (greedy) engine.greedy_tokens({next.data(), static_cast<size_t>(active)});
    decode_rows += active;
    const int64_t stepped = active;
    active = 0;  // accept() re-adds the sequences that go on, in order
    for (int64_t j = 0; j < stepped; ++j) {
      const int32_t s = active_slot[static_cast<size_t>(j)];
      accept(s, next_token(j, s));
    }
  }
  const double t2 = MPI_Wtime();
  const double coll = collective_stats().total_seconds() - coll0;
  RankFigures mine_figures{t1 - t0, t2 - t1, coll, decode_rows, op_counters()};
  for (size_t k = 0; k < kNumOps; ++k) {
    CollectiveCounter& op = mine_figures.ops[k];
    op = {op.calls - ops0[k].calls, op.bytes - ops0[k].bytes, op.seconds - ops0[k].seconds};
  }

  // Gather: per slot [count, finish, ids x N] (int32), plus this rank's figures.
  const size_t rec = static_cast<size_t>(2 + N);
  std::vector<int32_t> mine(static_cast<size_t>(B) * rec, 0);
  for (int64_t s = 0; s < local; ++s) {
    int32_t* r = &mine[static_cast<size_t>(s) * rec];
    r[0] = static_cast<int32_t>(out[static_cast<size_t>(s)].size());
    r[1] = static_cast<int32_t>(finish[static_cast<size_t>(s)]);
    std::copy(out[static_cast<size_t>(s)].begin(), out[static_cast<size_t>(s)].end(), r + 2);
  }
  const std::vector<int32_t> all = all_gather_values(mesh.all(), mine);
  const std::vector<RankFigures> figures = all_gather_values(mesh.all(), std::vector{mine_figures});

  GenerateResult result;
  for (int64_t g = 0; g < count; ++g) {
    const int64_t rank = (g % L.dp) * L.mp;  // mp index 0 of dp row g % dp
    const int32_t* r =
        &all[static_cast<size_t>(rank) * B * rec + static_cast<size_t>(g / L.dp) * rec];
    SequenceOutput so;
    so.prompt_ids = prompts[static_cast<size_t>(g)];
    so.generated_ids.assign(r + 2, r + 2 + r[0]);
    so.finish = static_cast<FinishReason>(r[1]);
    result.sequences.push_back(std::move(so));
  }
  // Every rank of a replica routes the same tokens: count mp index 0's.
  std::vector<int64_t> routed = engine.expert_token_counts();
  for (size_t i = 0; i < routed.size(); ++i) routed[i] -= experts0[i];
  if (L.mp_index != 0) std::fill(routed.begin(), routed.end(), 0);
  if (!routed.empty()) {
    const std::vector<int64_t> every = all_gather_values(mesh.all(), routed);  // [ranks][L * E]
    result.expert_tokens.assign(routed.size(), 0);
    for (size_t i = 0; i < every.size(); ++i) result.expert_tokens[i % routed.size()] += every[i];
  }
  GenerateTiming& T = result.timing;
  for (auto& p : prompts) T.prompt_tokens += static_cast<int64_t>(p.size());
  for (int r = 0; r < mesh.size(); ++r) {
    const RankFigures& f = figures[static_cast<size_t>(r)];
    T.prefill_s = std::max(T.prefill_s, f.prefill_s);
    T.decode_s = std::max(T.decode_s, f.decode_s);
    T.collective_s.push_back(f.collective_s);
    T.busy_s.push_back(f.prefill_s + f.decode_s);
    if (r % L.mp == 0) T.decode_tokens += f.decode_rows;
    auto& per_op = T.collectives.emplace_back();
    for (size_t k = 0; k < kNumOps; ++k)
      if (f.ops[k].calls > 0) per_op[kOps[k]] = f.ops[k];
  }
  return result;
}

}  // namespace meshlm

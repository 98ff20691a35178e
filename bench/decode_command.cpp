// mesh-bench decode: time one decode step of a synthetic model (default
// TinyLlama-1.1B's shape) on a dp x mp mesh, for each weight dtype and batch:
// tokens/s, time per token, and the weight-streaming bandwidth it achieves
// next to the memory-read bandwidth the same tool measures on every rank.
//   mpirun -n 2 mesh-bench decode --mesh 1x2 --batch 1,8 --json decode.json
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "bench/bench_util.h"
#include "bench/commands.h"
#include "bench/model_bench.h"

namespace meshlm::bench {
namespace {

int run(const ModelBenchOptions& o) {
  ModelBench b = setup_model_bench(o, "decode", o.prompt_len + o.warmup + o.iters);
  const int64_t dp = b.mesh->abstract().axis_size("dp");
  print0(
      "# step = slowest rank's median of %d decode steps (%d warm-up, after a %lld-token "
      "prompt per sequence); tok/s = batch / step; weight GB/s = bytes read in full per step "
      "and rank / step; membw = median of probe passes interleaved with the steps\n",
      o.iters, o.warmup, static_cast<long long>(o.prompt_len));
  const bool moe = b.config.is_moe();
  if (moe)
    print0(
        "# MoE: GB/s/rank counts the bytes a step reads: the dense weights and the local "
        "experts its tokens are routed to (averaged over the timed steps); load = max / mean "
        "tokens per expert over those steps\n");
  nlohmann::json results = nlohmann::json::array();
  for (DType dtype : b.dtypes)
    for (const std::optional<MoeSharding>& placement : b.placements) {
      LoadedModel m = load_model(b, dtype, placement);
      Engine& engine = *m.engine;
      const ShardLayout& L = engine.layout();
      print0("# %5s %5s %3s | %10s %10s %12s | %10s %10s %8s %6s\n", "dtype", "batch", "moe",
             "step(ms)", "tok/s", "ms/token", "GB/s/rank", "membw", "fraction", "load");
      for (int64_t batch : b.batches) {
        const int64_t local = batch / dp;
        std::vector<int32_t> slots(static_cast<size_t>(local)), tokens(slots.size());
        for (int64_t i = 0; i < local; ++i) slots[static_cast<size_t>(i)] = static_cast<int32_t>(i);
        const BenchBatch seqs(b.config, local, o.prompt_len);
        engine.reset_all();
        engine.prefill(seqs.prefill);
        int step = 0;
        // MoE: the expert counts after each step (routing decides what a step reads).
        // Preallocated: the timed step only copies into it.
        std::vector<std::vector<int64_t>> routed(
            moe ? static_cast<size_t>(o.warmup + o.iters + 1) : 1, engine.expert_token_counts());
        size_t recorded = 1;
        auto decode = [&] {
          for (size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = 3 + static_cast<int32_t>((step * 7919 + static_cast<int>(i) * 31) %
                                                 (b.config.vocab_size - 3));
          engine.decode_step(slots, tokens);
          if (moe && recorded < routed.size()) {
            const auto& now = engine.expert_token_counts();
            std::copy(now.begin(), now.end(), routed[recorded++].begin());
          }
          ++step;
        };
        // Probe passes interleaved with the steps: both see the same machine load.
        std::vector<std::function<void()>> fns = {decode};
        if (b.probe) fns.push_back([&] { b.probe->pass(); });
        const auto times = time_interleaved(MPI_COMM_WORLD, o.warmup, o.iters, fns);
        const RankSpread t = spread_over_ranks(MPI_COMM_WORLD, median(times[0]));
        const double step_s = t.max;
        // Bytes a step reads on this rank: all of them, less (MoE) the local
        // experts no token of the step was routed to; and the expert load.
        double read_bytes = static_cast<double>(m.streamed_bytes), load = 0;
        if (moe) {
          const int64_t E = b.config.num_experts, timed0 = o.warmup;
          double touched = 0;
          std::vector<int64_t> per_expert(static_cast<size_t>(E), 0);
          for (int64_t s = timed0; s + 1 < static_cast<int64_t>(recorded); ++s)
            for (int64_t i = 0; i < static_cast<int64_t>(routed[0].size()); ++i) {
              const int64_t n = routed[static_cast<size_t>(s + 1)][static_cast<size_t>(i)] -
                                routed[static_cast<size_t>(s)][static_cast<size_t>(i)];
              per_expert[static_cast<size_t>(i % E)] += n;
              const int64_t e = i % E;
              if (n > 0 && e >= L.experts.begin && e < L.experts.end()) touched += 1;
            }
          touched /= o.iters;
          read_bytes = static_cast<double>(m.streamed_bytes - m.expert_bytes) +
                       touched * static_cast<double>(m.bytes_per_expert);
          int64_t sum = 0, most = 0;
          for (int64_t n : per_expert) {
            sum += n;
            most = std::max(most, n);
          }
          load = sum > 0 ? static_cast<double>(most) * E / static_cast<double>(sum) : 0;
        }
        const double gbps = read_bytes / step_s / 1e9;
        const double membw =
            b.probe ? spread_over_ranks(MPI_COMM_WORLD,
                                        static_cast<double>(b.probe->bytes()) / median(times[1]))
                          .avg
                    : 0;
        const double frac = membw > 0 ? gbps * 1e9 / membw : 0;
        print0("  %5s %5lld %3s | %10.2f %10.2f %12.2f | %10.2f %10.2f %7.1f%% %6.2f\n",
               dtype_name(dtype), static_cast<long long>(batch), moe ? m.moe.c_str() : "-",
               step_s * 1e3, static_cast<double>(batch) / step_s, step_s * 1e3, gbps, membw / 1e9,
               frac * 100, load);
        nlohmann::json r = {
            {"dtype", dtype_name(dtype)},
            {"batch", batch},
            {"batch_per_replica", local},
            {"context_tokens", o.prompt_len},
            {"step_ms", spread_json(t, 1e3)},
            {"tokens_per_s", static_cast<double>(batch) / step_s},
            {"time_per_token_ms", step_s * 1e3},
            {"weight_streaming_GBps", gbps},
            {"bytes_read_per_step", read_bytes},
            {"all_weights_GBps", static_cast<double>(m.weight_bytes) / step_s / 1e9},
            {"model", model_json(b, m, dtype)}};
        if (membw > 0) {
          r["membw_GBps"] = membw / 1e9;  // interleaved with these steps
          r["bandwidth_fraction"] = frac;
        }
        if (moe) {
          r["moe"] = m.moe;
          r["active_expert_bytes_per_step"] =
              read_bytes - static_cast<double>(m.streamed_bytes - m.expert_bytes);
          r["expert_load_max_over_mean"] = load;
        }
        results.push_back(r);
      }
    }
  write_model_bench_json(b, "decode", results);
  return 0;
}

}  // namespace

Command add_decode_command(CLI::App& app) {
  return add_model_bench_command(
      app, "decode",
      "Time decode steps of a synthetic model (tokens/s, weight-streaming bandwidth)",
      ModelBenchOptions{}, "--context", "Prompt tokens per sequence before timing", run);
}

}  // namespace meshlm::bench

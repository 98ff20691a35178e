// mesh-bench prefill: time the prefill of a batch of prompts on a synthetic
// model (default TinyLlama-1.1B's shape) on a dp x mp mesh, for each weight
// dtype and batch: prompt tokens/s and the time to the first token.
//   mpirun -n 2 mesh-bench prefill --mesh 1x2 --batch 1,8 --prompt-len 128 --json prefill.json
#include <mpi.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "bench/bench_util.h"
#include "bench/commands.h"
#include "bench/model_bench.h"

namespace meshlm::bench {
namespace {

int run(const ModelBenchOptions& o) {
  ModelBench b = setup_model_bench(o, "prefill", o.prompt_len);
  const int64_t dp = b.mesh->abstract().axis_size("dp");
  print0(
      "# time = slowest rank's median of %d prefills (%d warm-up) of a %lld-token prompt per "
      "sequence, caches reset before each; tok/s = batch x prompt / time\n",
      o.iters, o.warmup, static_cast<long long>(o.prompt_len));
  nlohmann::json results = nlohmann::json::array();
  for (DType dtype : b.dtypes) {
    LoadedModel m = load_model(b, dtype);
    Engine& engine = *m.engine;
    print0("# %5s %5s %7s | %10s %10s\n", "dtype", "batch", "prompt", "time(ms)", "tok/s");
    for (int64_t batch : b.batches) {
      const int64_t local = batch / dp;
      const BenchBatch seqs(b.config, local, o.prompt_len);
      auto run_prefill = [&] {
        engine.reset_all();
        engine.prefill(seqs.prefill);
      };
      const auto times = time_interleaved(MPI_COMM_WORLD, o.warmup, o.iters, {run_prefill});
      const RankSpread t = spread_over_ranks(MPI_COMM_WORLD, median(times[0]));
      const double tokens = static_cast<double>(batch * o.prompt_len);
      print0("  %5s %5lld %7lld | %10.1f %10.1f\n", dtype_name(dtype),
             static_cast<long long>(batch), static_cast<long long>(o.prompt_len), t.max * 1e3,
             tokens / t.max);
      results.push_back({{"dtype", dtype_name(dtype)},
                         {"batch", batch},
                         {"batch_per_replica", local},
                         {"prompt_tokens", o.prompt_len},
                         {"time_ms", spread_json(t, 1e3)},
                         {"tokens_per_s", tokens / t.max},
                         {"gflops_per_rank", 2.0 * static_cast<double>(parameter_count(b.config)) *
                                                 tokens / b.mesh->size() / t.max / 1e9},
                         {"model", model_json(b, m, dtype)}});
    }
  }
  write_model_bench_json(b, "prefill", results);
  return 0;
}

}  // namespace

Command add_prefill_command(CLI::App& app) {
  ModelBenchOptions defaults;
  defaults.prompt_len = 128;
  defaults.warmup = 1;
  defaults.iters = 3;
  return add_model_bench_command(
      app, "prefill", "Time the prefill of a batch of prompts on a synthetic model (tokens/s)",
      defaults, "--prompt-len", "Prompt tokens per sequence", run);
}

}  // namespace meshlm::bench

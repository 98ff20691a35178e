// What mesh-bench decode and prefill share: options, building a sharded
// Engine on a synthetic model (no file: weights generated per shard), the
// memory-read bandwidth probe run on every rank at once, and result records.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/model_config.h"
#include "bench/commands.h"
#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "model/engine.h"
#include "model/io/checkpoint.h"
#include "model/ops/membw.h"
#include "planner/layout.h"
#include "sharding/dtype.h"

namespace meshlm::bench {

struct ModelBenchOptions {
  std::string model = "tinyllama-1.1b";  // name in configs/models/ or config.json path
  std::string dtypes = "fp32,bf16";      // weight dtypes, one engine each, in turn
  std::string batches = "1,8";           // sequences decoded / prefilled together
  std::string mesh;                      // dp x mp; "" = 1 x world size
  int layers = 0;                        // > 0: only this many layers (quick runs)
  int64_t seq_len = 512;                 // KV cache length per sequence
  int64_t prompt_len = 16;               // decode: context before timing; prefill: tokens timed
  int warmup = 2, iters = 5;
  std::string device, device_memory;  // simulated device (default: this machine's RAM)
  std::string membw = "1GiB";         // bandwidth probe buffer per rank ("0" = skip)
  uint64_t seed = 1;
  std::string moe;  // MoE placements to run in turn: "tp", "ep", "tp,ep" ("" = the default)
  std::string json;
};

// Registers subcommand `name` (decode, prefill) with the shared options,
// starting from `defaults`, plus `len_flag` setting prompt_len; the returned
// command calls run with the parsed options.
Command add_model_bench_command(CLI::App& app, const char* name, const char* description,
                                const ModelBenchOptions& defaults, const char* len_flag,
                                const char* len_help, int (*run)(const ModelBenchOptions&));

// Everything validated on every rank before the first collective.
struct ModelBench {
  ModelBenchOptions opt;
  ModelConfig config;  // with opt.layers applied
  std::vector<DType> dtypes;
  std::vector<int64_t> batches;
  std::vector<std::optional<MoeSharding>> placements;  // {nullopt}: the planner's default
  std::unique_ptr<DeviceMesh> mesh;
  uint64_t capacity = 0;
  std::string device_name;
  nlohmann::json membw = nullptr;  // the up-front probe's figures (null when skipped)
  double membw_Bps = 0;            // its median read bandwidth per rank, averaged over ranks
  // The probe's buffer, kept so that benchmarks can interleave passes with
  // their steps (null when skipped).
  std::unique_ptr<ReadBandwidthProbe> probe;
};
// `positions`: cache positions per sequence the benchmark fills (<= seq_len).
ModelBench setup_model_bench(const ModelBenchOptions& o, const char* what, int64_t positions);

// One dtype's engine with its memory (destroyed before the next dtype loads).
struct LoadedModel {
  std::unique_ptr<DeviceMemory> memory;
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Engine> engine;
  double load_s = 0;
  uint64_t weight_bytes = 0;    // this rank's weights (all tensors)
  uint64_t streamed_bytes = 0;  // of which a decode step reads in full (not the lookup table)
  // MoE: this rank's expert weights (included above), and one local
  // expert's in one layer (a step reads it only when a token is routed to it).
  uint64_t expert_bytes = 0;
  uint64_t bytes_per_expert = 0;
  std::string moe;  // the placement ("tp", "ep"; "" for dense models)
};
LoadedModel load_model(const ModelBench& b, DType dtype,
                       std::optional<MoeSharding> moe = std::nullopt);

// Prompt tokens for `slot` (deterministic, in [3, vocab)).
std::vector<int32_t> bench_prompt(const ModelConfig& config, int32_t slot, int64_t len);

// This replica's sequences: slots 0..sequences-1, each with its bench_prompt.
struct BenchBatch {
  BenchBatch(const ModelConfig& config, int64_t sequences, int64_t prompt_len);
  BenchBatch(const BenchBatch&) = delete;  // prefill's spans point into prompts
  BenchBatch& operator=(const BenchBatch&) = delete;
  std::vector<std::vector<int32_t>> prompts;  // [sequences][prompt_len]
  std::vector<SlotTokens> prefill;            // {slot i, prompts[i]}, for Engine::prefill
};

// The "model" record of the JSON output.
nlohmann::json model_json(const ModelBench& b, const LoadedModel& m, DType dtype);

// Writes {"benchmark": name, ...common..., "results": results} from rank 0.
void write_model_bench_json(const ModelBench& b, const char* name, const nlohmann::json& results);

}  // namespace meshlm::bench

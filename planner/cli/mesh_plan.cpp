// mesh-plan: does a model fit on N devices, on which dp x mp mesh, at what
// batch and sequence length, and how fast? Prints the mesh table (or --json),
// explains the choice, and writes the sharding plan mesh-run executes.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdio>

#include "planner/mesh_search.h"
#include "planner/report.h"
#include "sharding/checked.h"
#include "sharding/error.h"
#include "sharding/units.h"

using namespace meshlm;

int main(int argc, char** argv) {
  CLI::App app{"mesh-plan: size a model against a mesh of devices and write a sharding plan"};
  std::string model, devices, device_memory, mesh, dtype = "bf16", kv_dtype, reserve = "10%";
  std::string objective = "throughput", write_plan;
  int num_devices = 0;
  int64_t seq_len = 0, batch = 0, prefill_chunk = kDefaultPrefillChunk, prompt_len = 0,
          avg_seq_len = 0;
  bool allow_fewer = false, json = false;
  app.add_option("--model", model,
                 "config.json, model directory, llama2.c .bin, or a name in configs/models/")
      ->required();
  app.add_option("--devices", devices, "Device spec: a name in configs/devices/ or a JSON file")
      ->required();
  // Ranges: a given value out of range is an error, never the default (0 or
  // the spec's count) in disguise.
  const auto dims = CLI::Range(int64_t{0}, kMaxDimension);
  app.add_option("--num-devices", num_devices, "Number of devices (default: the spec's count)")
      ->check(CLI::Range(1, INT32_MAX));
  app.add_option("--device-memory", device_memory, "Memory per device, e.g. 16GiB or 40GB");
  app.add_flag("--allow-fewer-devices", allow_fewer, "Also consider meshes of fewer devices");
  app.add_option("--mesh", mesh, "Evaluate only this dp x mp mesh, e.g. 2x2");
  app.add_option("--dtype", dtype,
                 "Weight dtype: fp32, bf16, fp16, int8, int4, mxfp4 (MoE experts; the rest bf16)")
      ->capture_default_str();
  std::string moe;
  app.add_option("--moe", moe,
                 "MoE models: place the experts tp (a slice of every expert per device) or ep "
                 "(whole experts per device); default: both evaluated, the best chosen");
  app.add_option(
      "--kv-dtype", kv_dtype,
      "KV cache dtype: fp32, bf16, fp16, int8 (default: the weight dtype, bf16 for int)");
  app.add_option("--seq-len", seq_len,
                 "Sequence length (default: the longest that fits, up to the model's maximum)")
      ->check(dims);
  app.add_option("--batch", batch, "Global batch (default: the largest that fits)")->check(dims);
  app.add_option("--prefill-chunk", prefill_chunk, "Prefill chunk in tokens (0 = seq len)")
      ->capture_default_str()
      ->check(dims);
  app.add_option("--prompt-len", prompt_len,
                 "Prompt length for the prefill estimate (default min(seq len, 1024))")
      ->check(dims);
  app.add_option("--avg-seq-len", avg_seq_len,
                 "Average sequence length (prompt + output) for the serving estimate: how many "
                 "sequences the paged KV cache holds at once (default seq len / 2)")
      ->check(dims);
  app.add_option("--reserve", reserve,
                 "Runtime reserve per device: a percentage (10%) or bytes (2GiB)")
      ->capture_default_str();
  app.add_option("--objective", objective, "throughput or latency")->capture_default_str();
  app.add_flag("--json", json, "Print the figures as JSON");
  app.add_option("--write-plan", write_plan, "Write the chosen mesh's sharding plan to this file");
  CLI11_PARSE(app, argc, argv);

  try {
    spdlog::set_pattern("%v");
    const ModelConfig config = ModelConfig::load(model);
    SearchRequest r;
    r.device = DeviceSpec::load(devices);
    r.num_devices = num_devices;
    if (!device_memory.empty()) r.device_memory = parse_bytes(device_memory);
    r.allow_fewer_devices = allow_fewer;
    if (!mesh.empty()) r.only_mesh = AbstractMesh::parse(mesh);
    r.weight_dtype = parse_dtype(dtype);
    if (!kv_dtype.empty()) r.kv_dtype = parse_dtype(kv_dtype);
    r.seq_len = seq_len;
    r.batch = batch;
    r.prefill_chunk = prefill_chunk;
    r.prompt_len = prompt_len;
    r.avg_seq_len = avg_seq_len;
    r.reserve = Reserve::parse(reserve);
    r.objective = parse_objective(objective);
    if (!moe.empty()) r.moe = parse_moe_sharding(moe);

    const SearchResult result = search_meshes(config, r);
    if (json)
      std::printf("%s\n", search_to_json(result).dump(2).c_str());
    else
      std::printf("%s", format_search_table(result).c_str());
    if (!result.chosen) {
      std::fprintf(stderr, "%s", nothing_fits_message(result).c_str());
      return 1;
    }
    if (!write_plan.empty()) {
      const MeshCandidate& m = result.candidates[*result.chosen];
      plan_for_candidate(result, m).save(write_plan);
      spdlog::info("wrote plan {} (mesh {}, batch {}, seq len {})", write_plan, m.label(),
                   m.batch_local * m.dp, m.seq_len);
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

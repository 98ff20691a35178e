#include "bench/model_bench.h"

#include "model/io/config_overrides.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>

#include "bench/bench_util.h"
#include "mesh/device_choice.h"
#include "mesh/mpi_session.h"
#include "planner/planner.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm::bench {

namespace {

void add_model_bench_options(CLI::App* sub, ModelBenchOptions& o) {
  sub->add_option("--model", o.model, "Model config: a name in configs/models/ or a config.json")
      ->capture_default_str();
  sub->add_option("--dtypes", o.dtypes, "Weight dtypes to run in turn: fp32, bf16, int8, int4")
      ->capture_default_str();
  sub->add_option("--batch", o.batches, "Global batch sizes (sequences), comma-separated")
      ->capture_default_str();
  sub->add_option("--mesh", o.mesh, "Mesh dp x mp, e.g. 1x2 (default 1 x number of ranks)");
  sub->add_option("--layers", o.layers,
                  "Run only this many layers (quick runs; the figures are then not the full "
                  "model's)");
  sub->add_option("--seq-len", o.seq_len, "KV cache length per sequence")->capture_default_str();
  sub->add_option("--warmup", o.warmup, "Untimed repetitions first")->capture_default_str();
  sub->add_option("--iters", o.iters, "Timed repetitions (the median is reported)")
      ->capture_default_str();
  sub->add_option("--device", o.device, "Simulated device: a name in configs/devices/ or a JSON");
  sub->add_option("--device-memory", o.device_memory,
                  "Simulated memory per rank (default: this machine's RAM)");
  sub->add_option("--membw", o.membw, "Buffer of the memory-read bandwidth probe (0 = skip)")
      ->capture_default_str();
  sub->add_option("--seed", o.seed, "Seed of the synthetic weights")->capture_default_str();
  sub->add_option("--moe", o.moe,
                  "MoE models: expert placements to run in turn, tp and/or ep (default: the "
                  "planner's)");
  sub->add_option("--json", o.json, "Write the results as JSON to this file");
}

}  // namespace

Command add_model_bench_command(CLI::App& app, const char* name, const char* description,
                                const ModelBenchOptions& defaults, const char* len_flag,
                                const char* len_help, int (*run)(const ModelBenchOptions&)) {
  auto o = std::make_shared<ModelBenchOptions>(defaults);
  auto* sub = app.add_subcommand(name, description);
  add_model_bench_options(sub, *o);
  sub->add_option(len_flag, o->prompt_len, len_help)->capture_default_str();
  return [o, run] { return run(*o); };
}

ModelBench setup_model_bench(const ModelBenchOptions& o, const char* what, int64_t positions) {
  ModelBench b;
  b.opt = o;
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  all_agree(MPI_COMM_WORLD, [&] {
    b.config = ModelConfig::load(o.model);
    if (o.layers < 0 || o.layers > b.config.num_layers)
      MESHLM_FAIL("--layers " << o.layers << " is out of range (the model has "
                              << b.config.num_layers << " layers; 0 = all)");
    if (o.layers > 0) {  // per-layer lists (layer_types) follow
      ConfigOverrides fewer;
      fewer.num_layers = o.layers;
      fewer.name = b.config.name;
      b.config = load_config_with_overrides(o.model, fewer);
    }
    b.dtypes = parse_weight_dtypes(o.dtypes);
    b.placements = {std::nullopt};
    if (!o.moe.empty()) {
      if (!b.config.is_moe())
        MESHLM_FAIL("--moe places the experts of a MoE model; " << b.config.name << " is dense");
      b.placements.clear();
      for (const std::string& p : split(o.moe)) b.placements.push_back(parse_moe_sharding(p));
    }
    for (uint64_t v : parse_size_list(o.batches)) b.batches.push_back(static_cast<int64_t>(v));
    if (o.warmup < 0 || o.iters < 1)
      MESHLM_FAIL("--warmup " << o.warmup << " / --iters " << o.iters
                              << " (expected warmup >= 0, iters >= 1)");
    if (o.prompt_len < 1) MESHLM_FAIL("prompt length " << o.prompt_len << " must be at least 1");
    if (positions > o.seq_len)
      MESHLM_FAIL("the benchmark fills " << positions << " cache positions per sequence (prompt "
                                         << o.prompt_len << " + steps), more than --seq-len "
                                         << o.seq_len);
    const AbstractMesh shape =
        AbstractMesh::parse(o.mesh.empty() ? "1x" + std::to_string(world) : o.mesh);
    if (shape.size() != world)
      MESHLM_FAIL("mesh " << shape.shape_string() << " needs " << shape.size()
                          << " ranks, but the job has " << world << " (run mpirun -n "
                          << shape.size() << ")");
    const int64_t dp = shape.axis_size("dp");
    for (int64_t batch : b.batches)
      if (batch % dp != 0)
        MESHLM_FAIL("--batch " << batch << " is not divisible by axis 'dp' (size " << dp << ")");
    b.mesh = std::make_unique<DeviceMesh>(MPI_COMM_WORLD, shape);
    const uint64_t ram = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                         static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const DeviceChoice device =
        choose_device(o.device, o.device_memory.empty() && o.device.empty() ? std::to_string(ram)
                                                                            : o.device_memory);
    b.capacity = device.capacity;
    b.device_name = device.describe();
    if (rank == 0 && !o.json.empty()) check_writable(o.json);
  });
  print0("mesh-bench %s: %s%s on mesh %s (%d rank(s), one core each), device %s\n", what,
         b.config.name.c_str(),
         o.layers > 0
             ? (" (first " + std::to_string(o.layers) + " layers only: not the full model)").c_str()
             : "",
         b.mesh->abstract().shape_string().c_str(), world, b.device_name.c_str());

  if (o.membw != "0") {
    uint64_t bytes = 0;
    all_agree(MPI_COMM_WORLD, [&] {
      bytes = parse_bytes(o.membw);
      b.probe = std::make_unique<ReadBandwidthProbe>(bytes);
    });
    // Every rank streams at once, as in a decode step.
    const auto times = time_interleaved(MPI_COMM_WORLD, 1, 5, {[&] { b.probe->pass(); }});
    const RankSpread bw =
        spread_over_ranks(MPI_COMM_WORLD, static_cast<double>(b.probe->bytes()) / median(times[0]));
    b.membw_Bps = bw.avg;
    b.membw = {{"buffer_bytes", b.probe->bytes()},
               {"repeats", 5},
               {"ranks_at_once", world},
               {"median_GBps", spread_json(bw, 1e-9)}};
    print0(
        "memory-read bandwidth per rank (all %d streaming at once): %.2f GB/s (median of 5 "
        "passes over %s; min/max over ranks %.2f/%.2f)\n",
        world, bw.avg / 1e9, format_bytes(static_cast<double>(b.probe->bytes())).c_str(),
        bw.min / 1e9, bw.max / 1e9);
  }
  return b;
}

LoadedModel load_model(const ModelBench& b, DType dtype, std::optional<MoeSharding> moe) {
  LoadedModel m;
  const int rank = b.mesh->rank();
  std::optional<Plan> plan;
  all_agree(MPI_COMM_WORLD, [&] {
    PlanRequest req;
    req.weight_dtype = dtype;
    req.kv_dtype = DType::f32;
    req.seq_len = b.opt.seq_len;
    req.batch = *std::max_element(b.batches.begin(), b.batches.end());
    req.device_memory = b.capacity;
    req.moe = moe;
    plan = plan_for_mesh(b.config, b.mesh->abstract(), req);
    m.memory = std::make_unique<DeviceMemory>(b.capacity, rank, b.device_name);
    m.checkpoint = synthetic_checkpoint(b.config, b.opt.seed);
  });
  print0("loading %s weights (synthetic, seed %llu)...\n", dtype_name(dtype),
         static_cast<unsigned long long>(b.opt.seed));
  const double t0 = MPI_Wtime();
  all_agree(MPI_COMM_WORLD,
            [&] { m.engine = std::make_unique<Engine>(*m.checkpoint, *plan, *b.mesh, *m.memory); });
  m.load_s = MPI_Wtime() - t0;
  m.weight_bytes = m.memory->in_use(MemCategory::weights);
  // A step reads every weight in full except the embedding table, of which it
  // looks up only the batch's rows (unless the table is also the classifier).
  m.streamed_bytes = m.weight_bytes;
  if (!b.config.tie_word_embeddings) {
    const std::string name = tensor_name(TensorRole::embed);
    const Shape local = plan->sharding_for(name).shard_shape(m.checkpoint->shape(name), name);
    m.streamed_bytes -= weight_bytes(local, storage_dtype({name, local, TensorRole::embed}, dtype));
  }
  if (b.config.is_moe()) {
    const ShardLayout& L = m.engine->layout();
    m.moe = L.experts.size < b.config.num_experts ? "ep" : "tp";
    for (const TensorInfo& t : tensor_inventory(b.config))
      if (is_expert_role(t.role))
        m.expert_bytes += weight_bytes(plan->sharding_for(t.name).shard_shape(t.shape, t.name),
                                       tensor_dtype(*plan, t));
    m.bytes_per_expert =
        m.expert_bytes / static_cast<uint64_t>(b.config.num_layers * L.experts.size);
    print0("experts placed %s: %s of expert weights per rank, %s per local expert and layer\n",
           m.moe.c_str(), format_bytes(static_cast<double>(m.expert_bytes)).c_str(),
           format_bytes(static_cast<double>(m.bytes_per_expert)).c_str());
  }
  print0("loaded in %.1f s: %s of weights per rank (%s read in full per step)\n", m.load_s,
         format_bytes(static_cast<double>(m.weight_bytes)).c_str(),
         format_bytes(static_cast<double>(m.streamed_bytes)).c_str());
  return m;
}

std::vector<int32_t> bench_prompt(const ModelConfig& config, int32_t slot, int64_t len) {
  std::vector<int32_t> ids(static_cast<size_t>(len));
  const uint64_t span = static_cast<uint64_t>(config.vocab_size - 3);
  for (int64_t i = 0; i < len; ++i)
    ids[static_cast<size_t>(i)] =
        3 + static_cast<int32_t>(
                (static_cast<uint64_t>(slot) * 7919u + static_cast<uint64_t>(i) * 104729u + 17u) %
                span);
  return ids;
}

BenchBatch::BenchBatch(const ModelConfig& config, int64_t sequences, int64_t prompt_len) {
  for (int64_t i = 0; i < sequences; ++i)
    prompts.push_back(bench_prompt(config, static_cast<int32_t>(i), prompt_len));
  for (int64_t i = 0; i < sequences; ++i)
    prefill.push_back({static_cast<int32_t>(i), prompts[static_cast<size_t>(i)]});
}

nlohmann::json model_json(const ModelBench& b, const LoadedModel& m, DType dtype) {
  return {{"name", b.config.name},
          {"layers", b.config.num_layers},
          {"full_model", b.opt.layers == 0},
          {"parameters", parameter_count(b.config)},
          {"weight_dtype", dtype_name(dtype)},
          {"weight_bytes_per_rank", m.weight_bytes},
          {"expert_bytes_per_rank", m.expert_bytes},
          {"moe", m.moe.empty() ? nlohmann::json() : nlohmann::json(m.moe)},
          {"streamed_bytes_per_rank", m.streamed_bytes},
          {"load_s", m.load_s}};
}

void write_model_bench_json(const ModelBench& b, const char* name, const nlohmann::json& results) {
  if (b.mesh->rank() != 0 || b.opt.json.empty()) return;
  write_json_file(b.opt.json, {{"benchmark", name},
                               {"mesh", b.mesh->abstract().shape_string()},
                               {"ranks", b.mesh->size()},
                               {"device", b.device_name},
                               {"seq_len", b.opt.seq_len},
                               {"warmup", b.opt.warmup},
                               {"iters", b.opt.iters},
                               {"membw", b.membw},
                               {"results", results}});
  print0("wrote %s\n", b.opt.json.c_str());
}

}  // namespace meshlm::bench

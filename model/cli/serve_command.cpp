// mesh-run serve: an OpenAI-compatible server over the mesh.
//   mpirun -n 2 mesh-run serve --model stories260K.bin --tokenizer tok.bin --mesh 1x2 --port 8000
// Every rank validates the same arguments and loads its shard (all_agree);
// world rank 0 then listens for HTTP and every rank runs the serving loop
// (serve/serve_loop.h) until SIGTERM/SIGINT.
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>

#include "arch/device_bytes.h"
#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "mesh/mpi_session.h"
#include "model/cli/commands.h"
#include "model/cli/run_setup.h"
#include "model/engine.h"
#include "model/gather_values.h"
#include "planner/memory_model.h"
#include "serve/coordinator.h"
#include "serve/http_server.h"
#include "serve/serve_loop.h"
#include "sharding/checked.h"
#include "sharding/units.h"

namespace meshlm::cli {

namespace {

struct Options {
  ModelOptions run;
  std::string host = "127.0.0.1", port_file, served_model_name, reserve = "10%";
  int port = 8000;
  int64_t max_num_seqs = 8, max_num_batched_tokens = 0, block_size = kDefaultKvBlockSize,
          kv_blocks = 0, max_queue = 1024;
  double shutdown_timeout = 30;
  bool no_prefix_caching = false;
};

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop = true;
}

// The paged KV pools: a ring of window blocks per slot (sliding-window
// models), and --kv-blocks full-attention blocks or what fits on the fullest
// device next to its weights and activations, keeping the reserve.
KvPaging pool(const Options& o, const Checkpoint& ckpt, const Plan& plan, const DeviceMesh& mesh,
              const DeviceMemory& memory) {
  KvPaging p;
  all_agree(mesh.comm(), [&] {
    const uint64_t reserve = Reserve::parse(o.reserve).for_capacity(memory.capacity());
    p = paged_kv_that_fits(ckpt.config(), plan, mesh, memory, o.block_size, reserve);
  });
  const auto all = all_gather_values(mesh.all(), std::vector<int64_t>{p.num_blocks});
  p.num_blocks = o.kv_blocks > 0 ? o.kv_blocks : *std::min_element(all.begin(), all.end());
  const int64_t one_seq = (plan.seq_len + o.block_size - 1) / o.block_size;
  all_agree(mesh.comm(), [&] {
    if (p.num_blocks < one_seq)
      MESHLM_FAIL("the KV cache pool holds " << p.num_blocks << " blocks of " << o.block_size
                                             << " positions, less than one sequence of seq_len "
                                             << plan.seq_len << " needs (" << one_seq
                                             << "): use a shorter --seq-len, more "
                                                "--device-memory or a smaller --reserve");
  });
  return p;
}

nlohmann::json mesh_info(const Checkpoint& ckpt, const std::string& name, const Plan& plan,
                         const DeviceMesh& mesh, const DeviceMemory& memory, const KvPaging& kv) {
  std::vector<uint64_t> mine{memory.capacity()};
  for (int c = 0; c < kNumMemCategories; ++c)
    mine.push_back(memory.in_use(static_cast<MemCategory>(c)));
  const auto all = all_gather_values(mesh.all(), mine);
  const auto coords = all_gather_values(mesh.all(), mesh.coords());
  nlohmann::json devices = nlohmann::json::array();
  const size_t per = mine.size();
  for (int r = 0; r < mesh.size(); ++r) {
    nlohmann::json m = nlohmann::json::object();
    for (int c = 0; c < kNumMemCategories; ++c)
      m[category_name(static_cast<MemCategory>(c))] = all[r * per + 1 + static_cast<size_t>(c)];
    devices.push_back({{"rank", r},
                       {"dp", coords[static_cast<size_t>(r) * 2]},
                       {"mp", coords[static_cast<size_t>(r) * 2 + 1]},
                       {"capacity", all[r * per]},
                       {"memory", m}});
  }
  return {{"model", name},
          {"checkpoint", ckpt.describe()},
          {"mesh", mesh.abstract().shape_string()},
          {"dp", mesh.abstract().axis_size("dp")},
          {"mp", mesh.abstract().axis_size("mp")},
          {"weight_dtype", dtype_name(plan.weight_dtype)},
          {"kv_dtype", dtype_name(plan.kv_dtype)},
          {"seq_len", plan.seq_len},
          {"block_size", kv.block_size},
          {"kv_blocks_per_replica", kv.num_blocks},
          {"kv_window_blocks_per_replica", kv.num_window_blocks},
          {"devices", devices}};
}

int run(const Options& o) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGUSR1, on_signal);  // what mpirun forwards to every rank and outlives

  MeshChoice choice;
  all_agree(MPI_COMM_WORLD, [&] { choice = choose_mesh(o.run, world); });
  DeviceMesh mesh(MPI_COMM_WORLD, choice.mesh);
  DeviceMemory memory(choice.device.capacity, mesh.rank(), choice.device.spec.name);
  const int64_t dp = choice.mesh.axis_size("dp");

  ModelFiles files;
  Plan plan;
  all_agree(mesh.comm(), [&] {
    files = open_model(o.run);
    plan = choice.plan ? *choice.plan
                       : plan_for_run(o.run, *files.checkpoint, choice, o.max_num_seqs * dp);
  });
  const Checkpoint& ckpt = *files.checkpoint;
  const ModelConfig& config = ckpt.config();
  const KvPaging paging = pool(o, ckpt, plan, mesh, memory);

  std::unique_ptr<Engine> engine;
  all_agree(mesh.comm(), [&] {
    engine = std::make_unique<Engine>(ckpt, plan, mesh, memory, progress_printer(rank), paging);
  });
  const std::string name = o.served_model_name.empty() ? config.name : o.served_model_name;
  const nlohmann::json info = mesh_info(ckpt, name, plan, mesh, memory, paging);

  ServeOptions so;
  so.model_name = name;
  so.dp = dp;
  so.scheduler.max_num_seqs = engine->batch_local();
  so.scheduler.max_model_len = plan.seq_len;
  so.scheduler.max_num_batched_tokens =
      o.max_num_batched_tokens > 0 ? o.max_num_batched_tokens : engine->layout().rows;
  so.scheduler.block_size = o.block_size;
  so.scheduler.num_blocks = paging.num_blocks;
  so.scheduler.num_window_blocks = paging.num_window_blocks;
  so.scheduler.window_blocks_per_seq = engine->kv_cache().geometry().window_blocks;
  so.scheduler.prefix_caching = !o.no_prefix_caching && so.scheduler.window_blocks_per_seq == 0;
  if (rank == 0 && !o.no_prefix_caching && !so.scheduler.prefix_caching)
    spdlog::info(
        "prefix caching is off: the sliding-window layers keep rings of {} blocks, "
        "which sequences cannot share",
        so.scheduler.window_blocks_per_seq);
  so.vocab_size = config.vocab_size;
  for (int64_t id : config.eos_token_ids) so.eos_ids.push_back(static_cast<int32_t>(id));
  so.max_queue = o.max_queue;
  so.shutdown_timeout_s = o.shutdown_timeout;

  ServerMetrics metrics;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<HttpServer> http;
  all_agree(mesh.comm(), [&] {
    if (rank != 0) return;
    coordinator =
        std::make_unique<Coordinator>(so, files.tokenizer ? &*files.tokenizer : nullptr, metrics);
    http = std::make_unique<HttpServer>(*coordinator, info);
    http->start(o.host, o.port);
    if (!o.port_file.empty()) {
      std::ofstream f(o.port_file);
      f << http->port() << "\n";
      if (!f) MESHLM_FAIL("cannot write --port-file '" << o.port_file << "'");
    }
  });
  if (rank == 0)
    spdlog::info(
        "serving {} ({}) on http://{}:{} — mesh {}, {} replica(s) x {} sequences, seq_len {}, KV "
        "{} blocks x {} positions per replica, weights {}, KV {}",
        name, ckpt.describe(), o.host, http->port(), choice.mesh.shape_string(), dp,
        so.scheduler.max_num_seqs, plan.seq_len, paging.num_blocks, paging.block_size,
        dtype_name(plan.weight_dtype), dtype_name(plan.kv_dtype));

  serve_loop(*engine, mesh, coordinator.get(), g_stop);
  if (http) http->stop();
  if (rank == 0) spdlog::info("server stopped");
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub =
      app.add_subcommand("serve", "OpenAI-compatible server (continuous batching, paged KV)");
  add_model_options(sub, o->run);
  const auto positive = CLI::Range(int64_t{1}, kMaxDimension);
  sub->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  sub->add_option("--port", o->port, "Port (0 = any free one; see --port-file)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub->add_option("--port-file", o->port_file, "Write the port listened on to this file");
  sub->add_option("--served-model-name", o->served_model_name,
                  "The model's name in the API (default: the config's)");
  sub->add_option("--max-num-seqs", o->max_num_seqs,
                  "Sequences running at once per dp replica (without --plan)")
      ->capture_default_str()
      ->check(positive);
  sub->add_option("--max-num-batched-tokens", o->max_num_batched_tokens,
                  "Tokens per step per replica, prefill and decode together (0 = one forward "
                  "pass: max(prefill-chunk, max-num-seqs))")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, kMaxDimension));
  sub->add_option("--block-size", o->block_size, "Positions per KV cache block")
      ->capture_default_str()
      ->check(positive);
  sub->add_option("--kv-blocks", o->kv_blocks,
                  "KV cache blocks per device (0 = what fits next to the weights, less --reserve)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, kMaxDimension));
  sub->add_option("--reserve", o->reserve, "Device memory kept free: 10%, 0.1 or 2GiB")
      ->capture_default_str();
  sub->add_flag("--no-prefix-caching", o->no_prefix_caching, "Do not share prompt prefixes' KV");
  sub->add_option("--max-queue", o->max_queue, "Waiting requests before answering 429")
      ->capture_default_str()
      ->check(positive);
  sub->add_option("--shutdown-timeout", o->shutdown_timeout,
                  "Seconds in-flight requests get after SIGTERM before they are aborted")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  return [o] { return run(*o); };
}

}  // namespace meshlm::cli

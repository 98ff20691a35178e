// mesh-run generate: sharded generation on a dp x mp mesh of ranks.
//   mpirun -n 4 mesh-run generate --model stories260K.bin --mesh 2x2
//       --prompt-ids 1 --prompt-ids 1,300,400 --max-new-tokens 64 --json out.json
// Every rank parses the same arguments and validates everything before the
// first collective (all_agree), so a bad input ends every rank together.
#include <mpi.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>

#include "collectives/stats.h"
#include "mesh/device_choice.h"
#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "mesh/mpi_session.h"
#include "model/cli/commands.h"
#include "model/cli/generate_report.h"
#include "model/cli/run_setup.h"
#include "model/engine.h"
#include "model/gather_values.h"
#include "model/generate.h"
#include "model/io/checkpoint.h"
#include "model/io/tokenizer.h"
#include "planner/mesh_search.h"
#include "planner/planner.h"
#include "sharding/checked.h"
#include "sharding/units.h"

namespace meshlm::cli {

namespace {

struct Options {
  ModelOptions run;  // model, mesh, plan, devices (run_setup.h)
  std::string prompts_file, json, stop_ids;
  std::vector<std::string> prompts, prompt_ids;
  int64_t max_new_tokens = 64, batch = 0, top_k = 0;
  float temperature = 0.0f, top_p = 1.0f;
  uint64_t seed = 0;
};

// Token ids "1, 2,3": digits separated by commas, blanks around them. A plain
// loop (no regex: std::regex recurses once per character and overflows the
// stack on long lines). Returns nullopt when `s` is not of that form (then it
// is text). A list of that form with a negative id ("1,-5") or one beyond
// int32 is meant as ids: it throws naming `what` and the id.
std::optional<std::vector<int32_t>> scan_ids(const std::string& s, const std::string& what) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  struct Item {
    size_t begin, end;  // the digits
    bool negative;
  };
  std::vector<Item> items;
  for (size_t i = 0;;) {
    while (i < s.size() && blank(s[i])) ++i;
    const bool negative = i < s.size() && s[i] == '-';
    if (negative) ++i;
    if (i == s.size() || !digit(s[i])) return std::nullopt;
    const size_t begin = i;
    while (i < s.size() && digit(s[i])) ++i;
    items.push_back({begin, i, negative});
    while (i < s.size() && blank(s[i])) ++i;
    if (i == s.size()) break;
    if (s[i] != ',') return std::nullopt;
    ++i;
  }
  std::vector<int32_t> out;
  out.reserve(items.size());
  for (const Item& it : items) {
    int64_t v = 0;
    for (size_t i = it.begin; i < it.end && v <= INT32_MAX; ++i) v = v * 10 + (s[i] - '0');
    if (it.negative || v > INT32_MAX) {
      const size_t n = it.end - it.begin;  // show at most 24 digits
      MESHLM_FAIL(what << ": token id " << (it.negative ? "-" : "")
                       << s.substr(it.begin, std::min<size_t>(n, 24)) << (n > 24 ? "..." : "")
                       << " is " << (it.negative ? "negative" : "too large") << " (ids are 0.."
                       << INT32_MAX << ")");
    }
    out.push_back(static_cast<int32_t>(v));
  }
  return out;
}

std::vector<int32_t> parse_ids(const std::string& s, const std::string& what) {
  std::optional<std::vector<int32_t>> ids = scan_ids(s, what);
  if (!ids) {
    const std::string shown = s.size() > 40 ? s.substr(0, 40) + "..." : s;
    MESHLM_FAIL(what << " '" << shown
                     << "' is not a comma-separated list of token ids (e.g. 1,2,3)");
  }
  return std::move(*ids);
}

// Prompts in order: --prompt texts, --prompt-ids, then --prompts-file lines.
std::vector<std::vector<int32_t>> read_prompts(const Options& o, const Tokenizer* tok) {
  std::vector<std::vector<int32_t>> out;
  auto text = [&](const std::string& t, const std::string& where) {
    if (!tok) MESHLM_FAIL(where << " is text: it needs --tokenizer FILE (or give token ids)");
    out.push_back(tok->encode(t, /*bos=*/true));
  };
  for (auto& p : o.prompts) text(p, "--prompt");
  for (auto& p : o.prompt_ids) out.push_back(parse_ids(p, "--prompt-ids"));
  if (!o.prompts_file.empty()) {
    std::ifstream in(o.prompts_file);
    if (!in) MESHLM_FAIL("cannot open prompts file '" << o.prompts_file << "'");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = o.prompts_file + ":" + std::to_string(n);
      if (std::optional<std::vector<int32_t>> ids = scan_ids(line, where))
        out.push_back(std::move(*ids));
      else
        text(line, where);
    }
  }
  return out;
}

int run(const Options& o) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);

  // 1. The mesh: from the plan, or --mesh (default 1 x world size).
  MeshChoice choice;
  all_agree(MPI_COMM_WORLD, [&] { choice = choose_mesh(o.run, world); });
  const AbstractMesh& abstract = choice.mesh;
  const DeviceChoice& device = choice.device;
  std::optional<Plan> plan = choice.plan;
  DeviceMesh mesh(MPI_COMM_WORLD, abstract);
  DeviceMemory memory(device.capacity, mesh.rank(), device.spec.name);

  // 2. Model, tokenizer, prompts and plan: everything checked before any collective.
  std::unique_ptr<Checkpoint> ckpt;
  std::optional<Tokenizer> tokenizer;
  std::vector<std::vector<int32_t>> prompts;
  GenerateOptions gen;
  all_agree(mesh.comm(), [&] {
    ModelFiles files = open_model(o.run);
    ckpt = std::move(files.checkpoint);
    tokenizer = std::move(files.tokenizer);
    const ModelConfig& config = ckpt->config();
    prompts = read_prompts(o, tokenizer ? &*tokenizer : nullptr);
    if (prompts.empty())
      MESHLM_FAIL("no prompt given (use --prompt TEXT, --prompt-ids 1,2,3 or --prompts-file)");
    if (!plan) {
      const int64_t dp = abstract.axis_size("dp"), n = static_cast<int64_t>(prompts.size());
      plan = plan_for_run(o.run, *ckpt, choice, o.batch > 0 ? o.batch : (n + dp - 1) / dp * dp);
    }
    const ShardLayout layout = runtime_layout(config, *plan, mesh.coords());
    gen.max_new_tokens = o.max_new_tokens;
    gen.sampling = SamplingParams{o.temperature, o.top_k, o.top_p};
    gen.seed = o.seed;
    if (o.stop_ids == "none") {
    } else if (!o.stop_ids.empty()) {
      gen.stop_ids = parse_ids(o.stop_ids, "--stop-ids");
    } else {
      for (int64_t id : config.eos_token_ids) gen.stop_ids.push_back(static_cast<int32_t>(id));
    }
    validate_prompts(config, layout, prompts, gen);
  });
  if (gen.max_new_tokens > plan->seq_len) {
    if (rank == 0)
      spdlog::info("--max-new-tokens {} is more than the sequence length {} allows: clamped to {}",
                   gen.max_new_tokens, plan->seq_len, plan->seq_len);
    gen.max_new_tokens = plan->seq_len;
  }
  if (rank == 0)
    spdlog::info("{} on mesh {} ({}), weights {}, KV cache {}, batch {} x seq_len {}",
                 ckpt->describe(), abstract.shape_string(), device.describe(),
                 dtype_name(plan->weight_dtype), dtype_name(plan->kv_dtype), plan->batch,
                 plan->seq_len);

  // 3. Load this rank's shard (no collective inside: errors agreed afterwards).
  std::unique_ptr<Engine> engine;
  const double t0 = MPI_Wtime();
  all_agree(mesh.comm(), [&] {
    engine = std::make_unique<Engine>(*ckpt, *plan, mesh, memory, progress_printer(rank));
  });
  const double load_local = MPI_Wtime() - t0;

  // 4. Generate (a single sequence streams as it goes).
  const bool stream = prompts.size() == 1 && rank == 0;
  int32_t prev = prompts[0].back();
  TokenCallback on_token;
  if (stream) {
    SequenceOutput prompt_only;
    prompt_only.prompt_ids = prompts[0];
    std::string head = sequence_text(prompt_only, tokenizer ? &*tokenizer : nullptr);
    if (!tokenizer) head.pop_back();  // "[1 2 3] -> " less the trailing space
    std::printf("%s", head.c_str());
    std::fflush(stdout);
    on_token = [&](int64_t, int32_t token) {
      if (tokenizer) {
        const std::string_view piece = tokenizer->decode(prev, token);
        std::printf("%.*s", static_cast<int>(piece.size()), piece.data());
      } else
        std::printf(" %d", token);
      prev = token;
      std::fflush(stdout);
    };
  }
  collective_stats().reset();
  RunReport report;
  report.result = generate(*engine, mesh, prompts, gen, on_token);
  if (stream) std::printf("\n");

  // 5. Report: figures of every rank.
  std::vector<uint64_t> mine;
  for (int c = 0; c < kNumMemCategories; ++c)
    mine.push_back(memory.peak(static_cast<MemCategory>(c)));
  const auto peaks = all_gather_values(mesh.all(), mine);
  const auto loads = all_gather_values(mesh.all(), std::vector<double>{load_local});
  if (rank != 0) return 0;
  report.model = ckpt->describe();
  report.num_experts = ckpt->config().num_experts;
  report.mesh = abstract.shape_string();
  report.plan = &*plan;
  for (double l : loads) report.load_s = std::max(report.load_s, l);
  for (int r = 0; r < mesh.size(); ++r) {
    std::map<std::string, uint64_t> m;
    for (int c = 0; c < kNumMemCategories; ++c)
      m[category_name(static_cast<MemCategory>(c))] =
          peaks[static_cast<size_t>(r * kNumMemCategories + c)];
    report.memory.push_back(m);
  }
  report.tokenizer = tokenizer ? &*tokenizer : nullptr;
  if (!stream) print_sequences(report);
  print_summary(report);
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    f << report_json(report).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) MESHLM_FAIL("cannot write '" << o.json << "'");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub = app.add_subcommand("generate", "Generate text with a model sharded over the mesh");
  add_model_options(sub, o->run);
  sub->add_option("--prompt", o->prompts, "Prompt text (needs --tokenizer); repeatable");
  sub->add_option("--prompt-ids", o->prompt_ids, "Prompt token ids, e.g. 1,2,3; repeatable");
  sub->add_option("--prompts-file", o->prompts_file, "One prompt per line (text or ids)");
  // Ranges: a given value out of range is an error, never the default in disguise.
  const auto dims = CLI::Range(int64_t{0}, kMaxDimension);
  sub->add_option("--max-new-tokens", o->max_new_tokens,
                  "Tokens to generate per sequence (at most the sequence length)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, INT64_MAX));
  sub->add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-k", o->top_k, "Keep the k most probable tokens (0 = all)")
      ->capture_default_str()
      ->check(dims);
  sub->add_option("--top-p", o->top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  sub->add_option("--seed", o->seed, "Sampling seed (same seed, same tokens on any mesh)")
      ->capture_default_str();
  sub->add_option("--stop-ids", o->stop_ids,
                  "Stop token ids, e.g. 1,2 (default: the model's; 'none' = never stop)");
  sub->add_option("--batch", o->batch, "Global batch (default 0: prompts, rounded up to dp)")
      ->check(dims);
  sub->add_option("--json", o->json, "Write sequences, timing and memory as JSON");
  return [o] { return run(*o); };
}

}  // namespace meshlm::cli

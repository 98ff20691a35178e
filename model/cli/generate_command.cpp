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
  std::string prompts_file, json, stop_ids, max_new_tokens_each, group_size;
  std::vector<std::string> prompts, prompt_ids;
  int64_t max_new_tokens = 64, batch = 0, top_k = 0, warmup_batches = 0;
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

int64_t parse_count(const std::string& s, const std::string& what) {
  const std::vector<int32_t> v = parse_ids(s, what);
  if (v.size() != 1) MESHLM_FAIL(what << " '" << s << "' is not one count");
  return v[0];
}

// Prompts [first, last) run together; `segment` of --group-size, whose batch size is `size`.
struct Batch {
  int64_t first = 0, last = 0;
  int segment = 0;
  int64_t size = 0;
};

// --group-size "4" (all prompts in batches of 4) or "1:8,4:16,16" (the first 8
// prompts one by one, the next 16 in batches of 4, the rest in batches of 16).
// "" = one batch of all n prompts.
std::vector<Batch> static_batches(const std::string& spec, int64_t n) {
  if (spec.empty()) return {{0, n, 0, n}};
  std::vector<Batch> out;
  const std::vector<std::string> items = split(spec);
  int64_t first = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    const size_t colon = items[k].find(':');
    const int64_t size = parse_count(items[k].substr(0, colon), "--group-size");
    if (colon == std::string::npos && k + 1 != items.size())
      MESHLM_FAIL("--group-size '" << spec << "': only the last entry may leave out its :count");
    const int64_t count = colon == std::string::npos
                              ? n - first
                              : parse_count(items[k].substr(colon + 1), "--group-size");
    if (size < 1 || count < 1 || first + count > n)
      MESHLM_FAIL("--group-size '" << spec << "': expected sizes and counts >= 1 covering the "
                                   << n << " prompts (SIZE or SIZE:COUNT,...)");
    for (int64_t f = first; f < first + count; f += size)
      out.push_back({f, std::min(first + count, f + size), static_cast<int>(k), size});
    first += count;
  }
  if (first != n)
    MESHLM_FAIL("--group-size '" << spec << "' covers " << first << " of the " << n << " prompts");
  return out;
}

// Appends one batch's result to the run's: sequences in order, timing and
// counters summed (seconds: each batch's slowest rank, added up).
void append_result(GenerateResult& total, GenerateResult&& part) {
  for (SequenceOutput& s : part.sequences) total.sequences.push_back(std::move(s));
  GenerateTiming& t = total.timing;
  const GenerateTiming& p = part.timing;
  t.prefill_s += p.prefill_s;
  t.decode_s += p.decode_s;
  t.prompt_tokens += p.prompt_tokens;
  t.decode_tokens += p.decode_tokens;
  t.collective_s.resize(p.collective_s.size(), 0.0);
  t.busy_s.resize(p.busy_s.size(), 0.0);
  t.collectives.resize(p.collectives.size());
  for (size_t r = 0; r < p.collective_s.size(); ++r) {
    t.collective_s[r] += p.collective_s[r];
    t.busy_s[r] += p.busy_s[r];
    for (const auto& [op, c] : p.collectives[r]) {
      CollectiveCounter& into = t.collectives[r][op];
      into.calls += c.calls;
      into.bytes += c.bytes;
      into.seconds += c.seconds;
    }
  }
  total.expert_tokens.resize(part.expert_tokens.size(), 0);
  for (size_t i = 0; i < part.expert_tokens.size(); ++i)
    total.expert_tokens[i] += part.expert_tokens[i];
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
  std::vector<int64_t> requested;  // --max-new-tokens-each
  std::vector<Batch> batches;      // run one after another (static batching)
  GenerateOptions gen;
  all_agree(mesh.comm(), [&] {
    ModelFiles files = open_model(o.run);
    ckpt = std::move(files.checkpoint);
    tokenizer = std::move(files.tokenizer);
    const ModelConfig& config = ckpt->config();
    prompts = read_prompts(o, tokenizer ? &*tokenizer : nullptr);
    if (prompts.empty())
      MESHLM_FAIL("no prompt given (use --prompt TEXT, --prompt-ids 1,2,3 or --prompts-file)");
    const int64_t n = static_cast<int64_t>(prompts.size());
    if (!o.max_new_tokens_each.empty()) {
      for (const std::string& item : split(o.max_new_tokens_each))
        requested.push_back(parse_count(item, "--max-new-tokens-each"));
      if (static_cast<int64_t>(requested.size()) != n)
        MESHLM_FAIL("--max-new-tokens-each lists " << requested.size() << " counts for " << n
                                                   << " prompts (one per prompt, in order)");
    }
    batches = static_batches(o.group_size, n);
    int64_t widest = 0;
    for (const Batch& b : batches) widest = std::max(widest, b.last - b.first);
    if (!plan) {
      const int64_t dp = abstract.axis_size("dp");
      plan = plan_for_run(o.run, *ckpt, choice,
                          o.batch > 0 ? o.batch : (widest + dp - 1) / dp * dp);
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
    for (const Batch& b : batches)
      validate_prompts(config, layout, {prompts.begin() + b.first, prompts.begin() + b.last}, gen);
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
  // What batch b runs with: a batch decodes until its longest request is done.
  auto batch_options = [&](const Batch& b) {
    GenerateOptions g = gen;
    if (!requested.empty()) {
      g.max_new_tokens = 0;
      for (int64_t i = b.first; i < b.last; ++i)
        g.max_new_tokens = std::max(g.max_new_tokens, requested[static_cast<size_t>(i)]);
      g.max_new_tokens = std::min(g.max_new_tokens, plan->seq_len);
    }
    return g;
  };
  // --warmup-batches: first-use costs (page faults, first messages) out of the timed run.
  for (int64_t w = 0; w < std::min<int64_t>(o.warmup_batches, static_cast<int64_t>(batches.size()));
       ++w)
    generate(*engine, mesh, {prompts.begin() + batches[w].first, prompts.begin() + batches[w].last},
             batch_options(batches[w]));
  collective_stats().reset();
  RunReport report;
  // Static batching with --group-size: each batch runs to completion before
  // the next starts (the sampling streams of a batch are numbered from 0).
  report.grouped = !o.group_size.empty() || !requested.empty();
  for (const Batch& b : batches) {
    const int64_t first = b.first, last = b.last;
    const GenerateOptions g = batch_options(b);
    GenerateResult part =
        generate(*engine, mesh, {prompts.begin() + first, prompts.begin() + last}, g, on_token);
    if (report.grouped) {
      GroupReport gr;
      gr.segment = b.segment;
      gr.size = b.size;
      gr.first = first;
      gr.prompts = last - first;
      gr.max_new_tokens = g.max_new_tokens;
      for (int64_t i = first; i < last; ++i) {
        const int64_t got = static_cast<int64_t>(
            part.sequences[static_cast<size_t>(i - first)].generated_ids.size());
        gr.generated_tokens += got;
        const int64_t asked =
            requested.empty() ? g.max_new_tokens : requested[static_cast<size_t>(i)];
        gr.requested_tokens += std::min(asked, got);
      }
      gr.prefill_s = part.timing.prefill_s;
      gr.decode_s = part.timing.decode_s;
      gr.decode_tokens = part.timing.decode_tokens;
      report.groups.push_back(gr);
    }
    append_result(report.result, std::move(part));
  }
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
  sub->add_option("--batch", o->batch,
                  "Global batch (default 0: prompts, or --group-size, rounded up to dp)")
      ->check(dims);
  sub->add_option("--group-size", o->group_size,
                  "Static batching: run the prompts in consecutive batches of this many, each "
                  "prefilled together and decoded until all its sequences stop before the next "
                  "starts; SIZE:COUNT,... gives the next COUNT prompts batches of SIZE (e.g. "
                  "1:8,4:16,16). Default: one batch. --json then reports each batch");
  sub->add_option("--max-new-tokens-each", o->max_new_tokens_each,
                  "Requested tokens per prompt, e.g. 16,40,33 (in prompt order): each batch "
                  "generates its largest count for every sequence, as static batching decodes "
                  "until its longest request is done; --json counts the requested tokens");
  sub->add_option("--warmup-batches", o->warmup_batches,
                  "Run the first N batches once, untimed and unreported, before the run "
                  "(benchmarks)")
      ->capture_default_str()
      ->check(dims);
  sub->add_option("--json", o->json, "Write sequences, timing and memory as JSON");
  return [o] { return run(*o); };
}

}  // namespace meshlm::cli

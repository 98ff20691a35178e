// mesh-bench serve: a load generator against a running `mesh-run serve`.
// A fixed request mix (prompt and output lengths uniform over seeded ranges,
// random prompt ids) is streamed by `concurrency` closed-loop clients (one
// thread each) at each level; per level: requests/s, output tokens/s, time to
// first token and inter-token latency (p50/p99, per streamed chunk as the
// client sees it), KV blocks in use (sampled from /metrics) and the server's
// step figures over the run.
//   mesh-bench serve --url http://127.0.0.1:8000 --concurrency 1,4,16 --requests 8,16,32 --json s.json
// mesh-bench serve-report: joins those files with the static-batching
// baseline (`mesh-run generate --group-size C`, same requests) into one table.
// Both run as one process (no mpirun needed). scripts/bench-serve runs it all.
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>

#include "bench/bench_util.h"
#include "bench/commands.h"
#include "bench/serve_client.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm::bench {
namespace {

using nlohmann::json;

struct Options {
  std::string url = "http://127.0.0.1:8000";
  std::string concurrency = "1,4,16,64";
  std::string requests = "32";  // per level, or one count for all
  std::string prompt_len = "16:128", output_len = "16:64";
  int64_t vocab = 512;
  uint64_t seed = 1;
  int warmup = 2, repeats = 1;
  double sample_interval = 0.25, wait = 0, timeout = 600;
  std::string label, json, tsv, requests_out, server_command;
};

void require_one_process(const char* what) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 1)
    MESHLM_FAIL("mesh-bench " << what << " is one client process (it has " << world
                              << " ranks): run it without mpirun, or with -n 1");
}

std::vector<int64_t> parse_counts(const std::string& text, const char* what) {
  std::vector<int64_t> v;
  for (uint64_t x : parse_size_list(text)) {
    if (x > (uint64_t{1} << 20)) MESHLM_FAIL(what << " " << x << " is too large");
    v.push_back(static_cast<int64_t>(x));
  }
  return v;
}

// The figure of one run at a dotted path ("ttft_ms.p99").
double field(const json& j, const std::string& path) {
  const json* p = &j;
  for (const std::string& k : split(path, '.')) {
    if (!p->is_object() || !p->contains(k)) return 0;
    p = &(*p)[k];
  }
  return p->is_number() ? p->get<double>() : 0;
}

int run(const Options& o) {
  require_one_process("serve");
  const std::vector<int64_t> levels = parse_counts(o.concurrency, "--concurrency");
  std::vector<int64_t> counts = parse_counts(o.requests, "--requests");
  if (counts.size() == 1) counts.assign(levels.size(), counts[0]);
  if (counts.size() != levels.size())
    MESHLM_FAIL("--requests lists " << counts.size() << " counts for " << levels.size()
                                    << " concurrency levels (give one, or one per level)");
  for (int64_t c : levels)
    if (c > 4096) MESHLM_FAIL("--concurrency " << c << ": at most 4096 client threads");
  if (o.repeats < 1 || o.warmup < 0) MESHLM_FAIL("--repeats >= 1 and --warmup >= 0");
  if (!(o.sample_interval > 0)) MESHLM_FAIL("--sample-interval must be > 0");
  const LengthRange prompt = LengthRange::parse(o.prompt_len, "--prompt-len");
  const LengthRange output = LengthRange::parse(o.output_len, "--output-len");
  for (const std::string& path : {o.json, o.tsv, o.requests_out})
    if (!path.empty()) check_writable(path);

  const ServeClient client(o.url, o.timeout);
  if (o.wait > 0) client.wait_ready(o.wait);
  const json mesh = json::parse(client.get("/v1/mesh"));
  const json models = json::parse(client.get("/v1/models"));
  json server = json::object();
  for (const char* k : {"model", "checkpoint", "mesh", "dp", "mp", "weight_dtype", "kv_dtype",
                        "seq_len", "block_size", "kv_blocks_per_replica"})
    if (mesh.contains(k)) server[k] = mesh[k];
  const int64_t seq_len = mesh.value("seq_len", int64_t{0});
  if (seq_len > 0 && prompt.hi + output.hi > seq_len)
    MESHLM_FAIL("--prompt-len " << o.prompt_len << " and --output-len " << o.output_len
                                << " need up to " << prompt.hi + output.hi
                                << " positions; the server's seq_len is " << seq_len);
  const std::string label = o.label.empty() ? mesh.value("mesh", std::string("?")) : o.label;

  // Level l sends requests [first_l, first_l + counts[l]) of the mix, the
  // warm-up the ones after all levels'.
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  const std::vector<BenchRequest> mix =
      request_mix(o.seed, total + o.warmup, prompt, output, o.vocab);
  if (!o.requests_out.empty()) {  // arrival order; the static baseline reads it
    std::ofstream f(o.requests_out);
    f << "# mesh-bench serve request mix: seed " << o.seed << ", prompt " << prompt.str()
      << ", output " << output.str() << ", ids in [3, " << o.vocab << ")\n"
      << "# index\tprompt_tokens\tmax_tokens\tprompt_ids\n";
    for (size_t i = 0; i < static_cast<size_t>(total); ++i) {
      f << i << '\t' << mix[i].prompt.size() << '\t' << mix[i].max_tokens << '\t';
      for (size_t t = 0; t < mix[i].prompt.size(); ++t) f << (t ? "," : "") << mix[i].prompt[t];
      f << '\n';
    }
    if (!f) MESHLM_FAIL("cannot write '" << o.requests_out << "'");
  }
  std::printf(
      "mesh-bench serve: %s at %s (%s, mesh %s, seq_len %lld, %lld KV blocks per replica)\n"
      "request mix: seed %llu, prompts %s tokens, outputs %s tokens (uniform), greedy, "
      "ignore_eos, streamed\n",
      label.c_str(), client.url().c_str(), mesh.value("model", std::string("?")).c_str(),
      mesh.value("mesh", std::string("?")).c_str(), static_cast<long long>(seq_len),
      static_cast<long long>(mesh.value("kv_blocks_per_replica", int64_t{0})),
      static_cast<unsigned long long>(o.seed), prompt.str().c_str(), output.str().c_str());

  if (o.warmup > 0) {  // short requests: first-use costs out of the way, not recorded
    std::vector<BenchRequest> warm;
    for (int i = 0; i < o.warmup; ++i) {
      BenchRequest r = mix[static_cast<size_t>(total + i)];
      r.prompt.resize(std::min<size_t>(r.prompt.size(), 8));
      r.max_tokens = std::min<int64_t>(r.max_tokens, 4);
      warm.push_back(std::move(r));
    }
    const int c = static_cast<int>(std::min<int64_t>(o.warmup, levels.back()));
    const json w = run_load(client, warm, c, o.sample_interval);
    if (w["failed"].get<int64_t>() > 0)
      MESHLM_FAIL("warm-up requests failed: " << w["errors"].dump());
    std::printf("warm-up: %d short request(s) in %.1f s\n", o.warmup,
                w["duration_s"].get<double>());
  }

  std::printf("# %5s %5s | %8s %10s | %9s %9s | %9s %9s | %10s %7s | %8s %6s\n", "conc",
              "reqs", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99",
              "KV blk max", "of", "step ms", "rows");
  json results = json::array();
  bool failed = false;
  int64_t first = 0;
  for (size_t l = 0; l < levels.size(); ++l) {
    const std::vector<BenchRequest> reqs(mix.begin() + first, mix.begin() + first + counts[l]);
    json runs = json::array();
    for (int r = 0; r < o.repeats; ++r)
      runs.push_back(run_load(client, reqs, static_cast<int>(levels[l]), o.sample_interval));
    // The headline is the run with the median output tokens/s.
    std::vector<size_t> order(runs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return field(runs[a], "output_tokens_per_s") < field(runs[b], "output_tokens_per_s");
    });
    json rec = runs[order[order.size() / 2]];
    rec["first_request"] = first;  // in the mix (--requests-out)
    first += counts[l];
    if (o.repeats > 1) rec["runs"] = runs;
    for (const json& x : runs) failed = failed || x["failed"].get<int64_t>() > 0;
    std::printf("  %5lld %5lld | %8.3f %10.2f | %9.1f %9.1f | %9.1f %9.1f | %10.0f %7.0f | %8.1f %6.2f%s\n",
                static_cast<long long>(levels[l]), static_cast<long long>(counts[l]),
                field(rec, "requests_per_s"), field(rec, "output_tokens_per_s"),
                field(rec, "ttft_ms.p50"), field(rec, "ttft_ms.p99"), field(rec, "itl_ms.p50"),
                field(rec, "itl_ms.p99"), field(rec, "kv_blocks.used_max"),
                field(rec, "kv_blocks.total"), field(rec, "server.step_ms_mean"),
                field(rec, "server.fed_tokens_per_step"),
                rec["failed"].get<int64_t>() > 0 ? "  FAILED REQUESTS" : "");
    std::fflush(stdout);
    results.push_back(rec);
  }

  const json out = {
      {"benchmark", "serve"},
      {"label", label},
      {"url", client.url()},
      {"server", server},
      {"server_command", o.server_command},
      {"served_model", models},
      {"request_mix",
       {{"seed", o.seed},
        {"prompt_tokens", {{"min", prompt.lo}, {"max", prompt.hi}}},
        {"output_tokens", {{"min", output.lo}, {"max", output.hi}}},
        {"distribution", "uniform (splitmix64 per request)"},
        {"prompt_ids", "uniform in [3, " + std::to_string(o.vocab) + ")"},
        {"sampling", "greedy, ignore_eos, streamed (return_token_ids)"}}},
      {"warmup_requests", o.warmup},
      {"repeats", o.repeats},
      {"results", results}};
  if (!o.json.empty()) {
    write_json_file(o.json, out);
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (!o.tsv.empty()) {
    std::ofstream f(o.tsv);
    f << "# mesh-bench serve: " << label << ", " << mesh.value("model", std::string("?"))
      << ", mesh " << mesh.value("mesh", std::string("?")) << "\n# concurrency\trequests"
      << "\trequests_per_s\toutput_tokens_per_s\tttft_p50_ms\tttft_p99_ms\titl_p50_ms"
         "\titl_p99_ms\tkv_blocks_used_max\tkv_blocks_total\n";
    for (const json& r : results)
      f << r["concurrency"] << '\t' << r["requests"] << '\t' << field(r, "requests_per_s") << '\t'
        << field(r, "output_tokens_per_s") << '\t' << field(r, "ttft_ms.p50") << '\t'
        << field(r, "ttft_ms.p99") << '\t' << field(r, "itl_ms.p50") << '\t'
        << field(r, "itl_ms.p99") << '\t' << field(r, "kv_blocks.used_max") << '\t'
        << field(r, "kv_blocks.total") << '\n';
    if (!f) MESHLM_FAIL("cannot write '" << o.tsv << "'");
    std::printf("wrote %s\n", o.tsv.c_str());
  }
  if (failed) MESHLM_FAIL("some requests failed (see \"errors\" in the results)");
  return 0;
}

// ---- serve-report -----------------------------------------------------------

struct ReportOptions {
  std::vector<std::string> serve, statics, notes;
  double goal_ratio = 3, goal_itl = 2;
  int64_t goal_concurrency = 16;
  std::string json, tsv;
};

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) MESHLM_FAIL("cannot open '" << path << "'");
  json j = json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) MESHLM_FAIL("'" << path << "' is not JSON");
  return j;
}

// The static-batching baselines in a `mesh-run generate --group-size
// C1:N1,C2:N2,... --max-new-tokens-each ...` report, one per segment: its
// batches ran one after another, each prefilled together and decoded until
// its longest request was done; only the requested tokens count.
std::vector<json> static_figures(const json& g, const std::string& path) {
  if (!g.contains("groups") || !g["groups"].is_array() || g["groups"].empty())
    MESHLM_FAIL("'" << path << "' has no \"groups\" (run mesh-run generate --group-size)");
  std::vector<json> out;
  const json& groups = g["groups"];
  for (size_t i = 0; i < groups.size();) {
    const int64_t segment = groups[i]["segment"].get<int64_t>();
    const int64_t size = groups[i]["group_size"].get<int64_t>();
    const int64_t first = groups[i]["first"].get<int64_t>();
    double decode_s = 0, prefill_s = 0;
    int64_t requested = 0, generated = 0, prompts = 0, decode_rows = 0, batches = 0;
    for (; i < groups.size() && groups[i]["segment"].get<int64_t>() == segment; ++i, ++batches) {
      const json& grp = groups[i];
      prefill_s += grp["prefill_s"].get<double>();
      decode_s += grp["decode_s"].get<double>();
      requested += grp["requested_tokens"].get<int64_t>();
      generated += grp["generated_tokens"].get<int64_t>();
      prompts += grp["prompts"].get<int64_t>();
      decode_rows += grp["decode_tokens"].get<int64_t>();
    }
    const double seconds = prefill_s + decode_s;
    out.push_back({{"mesh", g["mesh"]},
                   {"group_size", size},
                   {"first_request", first},
                   {"batches", batches},
                   {"requests", prompts},
                   {"seconds", seconds},
                   {"prefill_s", prefill_s},
                   {"decode_s", decode_s},
                   {"requested_tokens", requested},
                   {"generated_tokens", generated},
                   {"decode_rows", decode_rows},
                   // A batch decodes all its sequences to its longest request
                   // (--stop-ids none), so its steps have `size` rows (the last
                   // batch may have fewer): the time of one decode step of the
                   // whole batch (all replicas together).
                   {"decode_step_ms",
                    decode_rows > 0 ? decode_s * 1e3 * static_cast<double>(size) /
                                          static_cast<double>(decode_rows)
                                    : 0},
                   {"decode_ms_per_row", decode_rows > 0 ? decode_s * 1e3 / decode_rows : 0},
                   {"output_tokens_per_s", seconds > 0 ? requested / seconds : 0},
                   {"requests_per_s", seconds > 0 ? prompts / seconds : 0},
                   {"source", path}});
  }
  return out;
}

int run_report(const ReportOptions& o) {
  require_one_process("serve-report");
  for (const std::string& path : {o.json, o.tsv})
    if (!path.empty()) check_writable(path);
  // Static runs by (mesh, group size).
  std::map<std::pair<std::string, int64_t>, json> statics;
  std::map<std::string, double> batch1_step_ms;  // mesh -> decode step at batch 1 (generate)
  for (const std::string& path : o.statics) {
    for (json& s : static_figures(read_json(path), path)) {
      const std::string mesh = s["mesh"].get<std::string>();
      const int64_t c = s["group_size"].get<int64_t>();
      if (c == 1 && s["decode_rows"].get<int64_t>() > 0)
        batch1_step_ms[mesh] = s["decode_s"].get<double>() / s["decode_rows"].get<double>() * 1e3;
      statics[{mesh, c}] = std::move(s);
    }
  }
  json meshes = json::array(), results = json::array(), goals = json::array();
  std::string tsv =
      "# mesh-bench serve-report: continuous batching (mesh-run serve) against static batching "
      "(mesh-run generate, batches of `concurrency` requests in arrival order)\n"
      "# mesh\tconcurrency\trequests\trequests_per_s\toutput_tokens_per_s\tttft_p50_ms"
      "\tttft_p99_ms\titl_p50_ms\titl_p99_ms\tkv_blocks_used_max\tkv_blocks_total"
      "\tstatic_output_tokens_per_s\tstatic_requests_per_s\tratio\tstep_ms_mean"
      "\tfed_tokens_per_step\tbatch1_step_ms\n";
  json request_mix;
  std::printf("# %4s %5s %5s | %7s %9s | %8s %8s | %7s %7s | %9s %6s | %9s %6s\n", "mesh",
              "conc", "reqs", "req/s", "tok/s", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99",
              "KV blocks", "total", "static", "ratio");
  for (const std::string& path : o.serve) {
    json s = read_json(path);
    if (s.value("benchmark", std::string()) != "serve")
      MESHLM_FAIL("'" << path << "' is not mesh-bench serve output");
    if (request_mix.is_null()) request_mix = s["request_mix"];
    const std::string mesh = s["server"].value("mesh", std::string("?"));
    const double b1 = batch1_step_ms.count(mesh) ? batch1_step_ms[mesh] : 0;
    for (json r : s["results"]) {
      const int64_t c = r["concurrency"].get<int64_t>();
      r["mesh"] = mesh;
      auto it = statics.find({mesh, c});
      double ratio = 0, st = 0, sr = 0;
      if (it != statics.end()) {
        if (it->second["requests"] != r["requests"] ||
            it->second["first_request"] != r.value("first_request", json(0)))
          MESHLM_FAIL("static baseline " << it->second["source"] << " ran requests "
                                         << it->second["first_request"] << " + "
                                         << it->second["requests"] << ", the served run "
                                         << r.value("first_request", json(0)) << " + "
                                         << r["requests"] << " (mesh " << mesh
                                         << ", concurrency " << c << "): not the same requests");
        r["static"] = it->second;
        st = it->second["output_tokens_per_s"].get<double>();
        sr = it->second["requests_per_s"].get<double>();
        ratio = st > 0 ? field(r, "output_tokens_per_s") / st : 0;
        r["ratio_to_static"] = ratio;
      }
      if (b1 > 0) r["itl_p99_over_batch1_step"] = field(r, "itl_ms.p99") / b1;
      std::printf("  %4s %5lld %5lld | %7.3f %9.2f | %8.0f %8.0f | %7.1f %7.1f | %9.0f %6.0f | %9.2f %6.2f\n",
                  mesh.c_str(), static_cast<long long>(c),
                  static_cast<long long>(r["requests"].get<int64_t>()), field(r, "requests_per_s"),
                  field(r, "output_tokens_per_s"), field(r, "ttft_ms.p50"), field(r, "ttft_ms.p99"),
                  field(r, "itl_ms.p50"), field(r, "itl_ms.p99"), field(r, "kv_blocks.used_max"),
                  field(r, "kv_blocks.total"), st, ratio);
      char line[512];
      std::snprintf(line, sizeof line,
                    "%s\t%lld\t%lld\t%.4f\t%.3f\t%.1f\t%.1f\t%.2f\t%.2f\t%.0f\t%.0f\t%.3f\t%.4f"
                    "\t%.3f\t%.2f\t%.2f\t%.2f\n",
                    mesh.c_str(), static_cast<long long>(c),
                    static_cast<long long>(r["requests"].get<int64_t>()), field(r, "requests_per_s"),
                    field(r, "output_tokens_per_s"), field(r, "ttft_ms.p50"),
                    field(r, "ttft_ms.p99"), field(r, "itl_ms.p50"), field(r, "itl_ms.p99"),
                    field(r, "kv_blocks.used_max"), field(r, "kv_blocks.total"), st, sr, ratio,
                    field(r, "server.step_ms_mean"), field(r, "server.fed_tokens_per_step"), b1);
      tsv += line;
      if (c == o.goal_concurrency) {
        const double itl = field(r, "itl_ms.p99");
        goals.push_back(
            {{"mesh", mesh},
             {"concurrency", c},
             {"throughput",
              {{"goal", "output tokens/s >= " + std::to_string(o.goal_ratio) +
                            " x static batching of the same requests"},
               {"ratio", ratio},
               {"met", ratio >= o.goal_ratio}}},
             {"itl",
              {{"goal", "p99 inter-token latency <= " + std::to_string(o.goal_itl) +
                            " x the batch-1 decode step"},
               {"itl_p99_ms", itl},
               {"batch1_decode_step_ms", b1},
               {"ratio", b1 > 0 ? itl / b1 : 0},
               {"met", b1 > 0 && itl <= o.goal_itl * b1}}}});
      }
      results.push_back(r);
    }
    s.erase("results");
    s["batch1_decode_step_ms"] = b1;
    s["source"] = path;
    meshes.push_back(s);
  }
  char date[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  const json out = {
      {"benchmark", "serve"},
      {"written", date},
      {"request_mix", request_mix},
      {"baseline",
       "mesh-run generate, batches of `concurrency` requests in arrival order: each batch "
       "prefills together and decodes until its longest request is done (--stop-ids none); "
       "only the requested output tokens count; time = prefill + decode (load excluded)"},
      {"batch1_decode_step",
       "decode seconds / decode steps of the static run at concurrency 1 (mesh-run generate, "
       "batch 1), same mesh and requests"},
      {"notes", o.notes},
      {"goals", goals},
      {"meshes", meshes},
      {"results", results}};
  for (const json& g : goals)
    std::printf("goal at concurrency %lld on %s: throughput %.2fx static (goal %.1fx: %s); ITL p99 "
                "%.1f ms = %.2fx the batch-1 step %.1f ms (goal %.1fx: %s)\n",
                static_cast<long long>(g["concurrency"].get<int64_t>()),
                g["mesh"].get<std::string>().c_str(), field(g, "throughput.ratio"), o.goal_ratio,
                g["throughput"]["met"].get<bool>() ? "met" : "NOT met", field(g, "itl.itl_p99_ms"),
                field(g, "itl.ratio"), field(g, "itl.batch1_decode_step_ms"), o.goal_itl,
                g["itl"]["met"].get<bool>() ? "met" : "NOT met");
  if (!o.json.empty()) {
    write_json_file(o.json, out);
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (!o.tsv.empty()) {
    write_text_file(o.tsv, tsv);
    std::printf("wrote %s\n", o.tsv.c_str());
  }
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub = app.add_subcommand(
      "serve", "Load generator against a running mesh-run serve (TTFT, ITL, throughput, KV use)");
  sub->add_option("--url", o->url, "The server, http://HOST:PORT")->capture_default_str();
  sub->add_option("--concurrency", o->concurrency, "Concurrent clients per level, comma-separated")
      ->capture_default_str();
  sub->add_option("--requests", o->requests,
                  "Requests per level (one count, or one per level); each level takes the next "
                  "ones of the mix (no prompt is sent twice: no prefix-cache hits across levels)")
      ->capture_default_str();
  sub->add_option("--prompt-len", o->prompt_len, "Prompt tokens, uniform over LO:HI")
      ->capture_default_str();
  sub->add_option("--output-len", o->output_len, "Output tokens (max_tokens), uniform over LO:HI")
      ->capture_default_str();
  sub->add_option("--vocab", o->vocab, "Prompt ids are drawn from [3, vocab)")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the request mix")->capture_default_str();
  sub->add_option("--warmup", o->warmup, "Short untimed requests before the first level")
      ->capture_default_str();
  sub->add_option("--repeats", o->repeats,
                  "Runs per level (the one with the median output tokens/s is reported)")
      ->capture_default_str();
  sub->add_option("--sample-interval", o->sample_interval, "Seconds between /metrics samples")
      ->capture_default_str();
  sub->add_option("--wait", o->wait, "Wait up to this many seconds for GET /health to answer 200")
      ->capture_default_str();
  sub->add_option("--timeout", o->timeout, "Read timeout per request, seconds")
      ->capture_default_str();
  sub->add_option("--label", o->label, "Name of this run in the output (default: the mesh)");
  sub->add_option("--server-command", o->server_command,
                  "How the server was started (recorded in the JSON as it is given)");
  sub->add_option("--requests-out", o->requests_out,
                  "Write the request mix (arrival order, TSV with the prompt ids) to this file");
  sub->add_option("--json", o->json, "Write the results as JSON to this file");
  sub->add_option("--tsv", o->tsv, "Write one line per level as TSV to this file");
  return [o] { return run(*o); };
}

Command add_serve_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* sub = app.add_subcommand(
      "serve-report",
      "Join mesh-bench serve results with the static-batching baseline (mesh-run generate)");
  sub->add_option("--serve", o->serve, "JSON of mesh-bench serve (one per mesh); repeatable")
      ->required();
  sub->add_option("--static", o->statics,
                  "JSON of mesh-run generate --group-size C for the same requests; repeatable");
  sub->add_option("--goal-concurrency", o->goal_concurrency, "Concurrency the goals apply to")
      ->capture_default_str();
  sub->add_option("--goal-ratio", o->goal_ratio, "Goal: output tokens/s over static batching")
      ->capture_default_str();
  sub->add_option("--goal-itl", o->goal_itl, "Goal: p99 ITL over the batch-1 decode step")
      ->capture_default_str();
  sub->add_option("--note", o->notes, "A line recorded in the JSON's \"notes\"; repeatable");
  sub->add_option("--json", o->json, "Write the joined results as JSON to this file");
  sub->add_option("--tsv", o->tsv, "Write the joined table as TSV (for gnuplot) to this file");
  return [o] { return run_report(*o); };
}

}  // namespace meshlm::bench

// mesh-bench accuracy: how close quantized weights and KV caches come to the
// fp32 model. Along the fp32 model's greedy continuation of a prompt (fed to
// every variant: teacher forcing), each step's logits are compared with the
// fp32 ones: normalised MSE (sum of squared differences / sum of squares) and
// the share of steps whose top-1 token agrees.
//   mpirun -n 1 mesh-bench accuracy --model tests/data/stories260K.bin --dtypes int8,int4
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

#include "bench/bench_util.h"
#include "bench/commands.h"
#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "mesh/mpi_session.h"
#include "model/accuracy.h"
#include "model/engine.h"
#include "model/generate.h"
#include "model/io/checkpoint.h"
#include "planner/planner.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm::bench {
namespace {

struct Options {
  std::string model, mesh, prompt_ids = "1", dtypes = "int8,int4", kv_dtypes = "fp32,int8", json;
  int64_t tokens = 200;
};

struct Run {
  std::unique_ptr<DeviceMemory> memory;
  std::unique_ptr<Engine> engine;
};

Run load(const Checkpoint& ckpt, const DeviceMesh& mesh, DType weights, DType kv, int64_t seq_len) {
  PlanRequest req;
  req.weight_dtype = weights;
  req.kv_dtype = kv;
  req.batch = mesh.abstract().axis_size("dp");
  req.seq_len = seq_len;
  Run r;
  r.memory = std::make_unique<DeviceMemory>(uint64_t{64} << 30, mesh.rank());
  all_agree(mesh.comm(), [&] {
    const Plan plan = plan_for_mesh(ckpt.config(), mesh.abstract(), req);
    r.engine = std::make_unique<Engine>(ckpt, plan, mesh, *r.memory);
  });
  return r;
}

int run(const Options& o) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::unique_ptr<Checkpoint> ckpt;
  std::vector<int32_t> prompt;
  std::vector<DType> dtypes, kv_dtypes;
  AbstractMesh abstract;
  all_agree(MPI_COMM_WORLD, [&] {
    if (o.model.empty()) MESHLM_FAIL("--model is required (a checkpoint: the figures are its own)");
    ckpt = open_checkpoint(o.model);
    for (const std::string& id : split(o.prompt_ids)) prompt.push_back(std::stoi(id));
    dtypes = parse_weight_dtypes(o.dtypes);
    for (const std::string& t : split(o.kv_dtypes)) kv_dtypes.push_back(parse_dtype(t));
    abstract = AbstractMesh::parse(o.mesh.empty() ? "1x" + std::to_string(world) : o.mesh);
    const int64_t need = static_cast<int64_t>(prompt.size()) + o.tokens;
    if (o.tokens < 1 || need > ckpt->config().max_position_embeddings)
      MESHLM_FAIL("--tokens " << o.tokens << " with a prompt of " << prompt.size()
                              << " tokens needs " << need << " positions; the model has "
                              << ckpt->config().max_position_embeddings);
  });
  DeviceMesh mesh(MPI_COMM_WORLD, abstract);
  const int64_t seq_len = static_cast<int64_t>(prompt.size()) + o.tokens;

  // The fp32 model's greedy path and its logits along it.
  Run ref = load(*ckpt, mesh, DType::f32, DType::f32, seq_len);
  GenerateOptions greedy;
  greedy.max_new_tokens = o.tokens;
  greedy.stop_ids = {};
  const int64_t dp = abstract.axis_size("dp");
  const std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(dp), prompt);
  const auto path = generate(*ref.engine, mesh, prompts, greedy).sequences[0].generated_ids;
  const std::vector<int32_t> fed(path.begin(),
                                 path.end() - 1);  // the logits of step i chose path[i]
  const LogitTrace want = teacher_forced_logits(*ref.engine, prompt, fed);
  ref = Run{};

  print0("mesh-bench accuracy: %s on mesh %s, %zu steps along the fp32 greedy path\n",
         ckpt->describe().c_str(), abstract.shape_string().c_str(), want.size());
  print0("# %7s %7s | %10s %12s %10s\n", "weights", "kv", "NMSE", "max |diff|", "top-1");
  nlohmann::json results = nlohmann::json::array();
  for (DType w : dtypes)
    for (DType kv : kv_dtypes) {
      if (w == DType::f32 && kv == DType::f32) continue;  // the reference itself
      Run r = load(*ckpt, mesh, w, kv, seq_len);
      const LogitAgreement a = logit_agreement(teacher_forced_logits(*r.engine, prompt, fed), want);
      print0("  %7s %7s | %10.2e %12.4g %9.1f%%\n", dtype_name(w), dtype_name(kv), a.nmse,
             a.max_abs_diff, 100 * a.top1);
      results.push_back({{"weights", dtype_name(w)},
                         {"kv_cache", dtype_name(kv)},
                         {"nmse", a.nmse},
                         {"max_abs_diff", a.max_abs_diff},
                         {"top1_agreement", a.top1},
                         {"steps", want.size()}});
    }
  if (!o.json.empty() && mesh.rank() == 0) {
    nlohmann::json j = {{"benchmark", "accuracy"},
                        {"model", ckpt->describe()},
                        {"mesh", abstract.shape_string()},
                        {"prompt_ids", prompt},
                        {"results", results}};
    write_json_file(o.json, j);
  }
  return 0;
}

}  // namespace

Command add_accuracy_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "accuracy", "Logit NMSE and top-1 agreement of quantized weights / KV cache against fp32");
  sub->add_option("--model", o->model, "Checkpoint (llama2.c .bin or HF directory)")->required();
  sub->add_option("--prompt-ids", o->prompt_ids, "Prompt token ids, e.g. 1,2,3")
      ->capture_default_str();
  sub->add_option("--tokens", o->tokens, "Steps along the fp32 greedy path")->capture_default_str();
  sub->add_option("--dtypes", o->dtypes, "Weight dtypes: fp32, bf16, int8, int4")
      ->capture_default_str();
  sub->add_option("--kv-dtypes", o->kv_dtypes, "KV cache dtypes: fp32, bf16, int8")
      ->capture_default_str();
  sub->add_option("--mesh", o->mesh, "Mesh dp x mp (default 1 x number of ranks)");
  sub->add_option("--json", o->json, "Write the results as JSON to this file");
  return [o] { return run(*o); };
}

}  // namespace meshlm::bench

#include "model/cli/run_setup.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "arch/tensor_roles.h"
#include "planner/mesh_search.h"
#include "planner/planner.h"
#include "sharding/checked.h"
#include "sharding/units.h"

namespace meshlm::cli {

namespace {

// The dtype the checkpoint stores its weights in: that of embed_tokens, or
// mxfp4 when its experts are (gpt-oss as released).
DType stored_weight_dtype(const Checkpoint& ckpt) {
  for (const TensorInfo& t : tensor_inventory(ckpt.config()))
    if (ckpt.stored_dtype(t.name) == DType::mxfp4) return DType::mxfp4;
  return ckpt.stored_dtype(tensor_name(TensorRole::embed));
}

}  // namespace

// Loading progress of rank 0 for models of 64 MiB or more per device:
// "\rloading weights  42% (1.2 GiB of 2.9 GiB)" on a terminal, a log line
// every 25% otherwise.
LoadProgressFn progress_printer(int rank) {
  if (rank != 0) return {};
  const bool tty = isatty(fileno(stderr));
  auto last = std::make_shared<int>(-1);
  return [last, tty](const LoadProgress& p) {
    if (p.bytes_total < (uint64_t{64} << 20)) return;
    const int pct = static_cast<int>(100 * p.bytes_done / std::max<uint64_t>(p.bytes_total, 1));
    if (pct == *last || (!tty && pct / 25 == *last / 25 && *last >= 0)) return;
    *last = pct;
    const std::string done = format_bytes(static_cast<double>(p.bytes_done));
    const std::string total = format_bytes(static_cast<double>(p.bytes_total));
    if (tty)
      std::fprintf(stderr, "\rloading weights %3d%% (%s of %s)%s", pct, done.c_str(), total.c_str(),
                   pct == 100 ? "\n" : "");
    else
      spdlog::info("loading weights: {}% ({} of {}, {} of {} tensors)", pct, done, total,
                   p.tensors_done, p.tensors_total);
  };
}

void add_model_options(CLI::App* sub, ModelOptions& o) {
  const auto dims = CLI::Range(int64_t{0}, kMaxDimension);
  sub->add_option("--model", o.model,
                  "llama2.c .bin, Hugging Face model directory, or (with --synthetic) a "
                  "config.json / name in configs/models/")
      ->required();
  sub->add_option("--plan", o.plan,
                  "Sharding plan (JSON from mesh-plan); its mesh must match the job");
  sub->add_option("--mesh", o.mesh, "Mesh DPxMP when no plan is given (default 1 x ranks)");
  sub->add_option("--tokenizer", o.tokenizer,
                  "llama2.c tokenizer.bin of the model (its vocabulary size must match): "
                  "tests/data/stories260K-tokenizer.bin (512 tokens) for stories260K, "
                  "tests/data/llama2-tokenizer.bin (32000) for Llama 2 and TinyLlama");
  sub->add_flag("--synthetic", o.synthetic, "Deterministic random weights for --model's config");
  sub->add_option("--synthetic-seed", o.synthetic_seed, "Seed of the --synthetic weights")
      ->capture_default_str();
  sub->add_option("--seq-len", o.seq_len, "Sequence length (default 0: the model's)")->check(dims);
  sub->add_option("--prefill-chunk", o.prefill_chunk, "Prefill tokens per pass (0 = seq-len)")
      ->capture_default_str()
      ->check(dims);
  sub->add_option("--dtype", o.dtype,
                  "Weight dtype: fp32, bf16, fp16, or int8/int4 (block-quantized at load, each "
                  "rank its shard; default: the checkpoint's)");
  sub->add_option("--kv-dtype", o.kv_dtype, "KV cache dtype: fp32, bf16, fp16 or int8")
      ->capture_default_str();
  sub->add_option("--moe", o.moe,
                  "MoE models with --mesh: tp (every device a slice of every expert) or ep "
                  "(whole experts per device); default: the planner's choice");
  sub->add_option("--devices", o.device, "Device spec: a name in configs/devices/ or a JSON file");
  sub->add_option("--device-memory", o.device_memory, "Device memory per rank, e.g. 64MiB");
}

MeshChoice choose_mesh(const ModelOptions& o, int world) {
  MeshChoice c;
  c.device = choose_device(o.device, o.device_memory);
  if (!o.plan.empty()) {
    if (!o.mesh.empty()) MESHLM_FAIL("give either --plan or --mesh, not both");
    c.plan = Plan::load(o.plan);
    c.mesh = c.plan->mesh;
    if (c.mesh.size() != world)
      MESHLM_FAIL("plan '" << o.plan << "' is for mesh " << c.mesh.shape_string() << " ("
                           << c.mesh.size() << " devices), but the job has " << world
                           << " rank(s): run it with mpirun -n " << c.mesh.size());
  } else {
    c.mesh = AbstractMesh::parse(o.mesh.empty() ? "1x" + std::to_string(world) : o.mesh);
    if (c.mesh.size() != world)
      MESHLM_FAIL("mesh " << c.mesh.shape_string() << " needs " << c.mesh.size()
                          << " ranks, but the job has " << world << " (run mpirun -n "
                          << c.mesh.size() << " or choose a mesh whose sizes multiply to " << world
                          << ")");
  }
  return c;
}

ModelFiles open_model(const ModelOptions& o) {
  ModelFiles f;
  if (o.synthetic)
    f.checkpoint = synthetic_checkpoint(ModelConfig::load(o.model), o.synthetic_seed);
  else
    f.checkpoint = open_checkpoint(o.model);
  if (!o.tokenizer.empty())
    f.tokenizer = Tokenizer::load(o.tokenizer, f.checkpoint->config().vocab_size);
  return f;
}

Plan plan_for_run(const ModelOptions& o, const Checkpoint& checkpoint, const MeshChoice& choice,
                  int64_t batch) {
  const ModelConfig& config = checkpoint.config();
  PlanRequest req;
  req.weight_dtype = o.dtype.empty() ? stored_weight_dtype(checkpoint) : parse_dtype(o.dtype);
  req.kv_dtype = parse_dtype(o.kv_dtype);
  req.seq_len = o.seq_len > 0 ? o.seq_len : config.max_position_embeddings;
  req.batch = batch;
  req.prefill_chunk = o.prefill_chunk;
  if (!o.moe.empty()) req.moe = parse_moe_sharding(o.moe);
  req.device = choice.device.spec;
  req.device_memory = choice.device.capacity;
  return plan_for_mesh(config, choice.mesh, req);
}

}  // namespace meshlm::cli

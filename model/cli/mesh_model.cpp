// mesh-model: make random-weight models and inspect checkpoints (no MPI).
//   mesh-model make --config tinyllama-1.1b --layers 2 --seed 1 --out /tmp/tiny
//   mesh-model make --family gpt_oss --layers 2 --dim 64 ... --mxfp4 --seed 1 --out /tmp/oss
//   mesh-model inspect /tmp/tiny/model.bin --read
//   mesh-model quantize --model /tmp/tiny --dtype int8 --out /tmp/tiny-int8
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/io/checkpoint.h"
#include "model/io/checkpoint_writer.h"
#include "model/io/config_overrides.h"
#include "model/io/quantized_checkpoint.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace {

using namespace meshlm;

// "\rwriting model.safetensors  42%" on stderr, once per percent.
std::function<void(uint64_t, uint64_t)> progress_printer(const std::string& what) {
  if (!isatty(fileno(stderr))) return nullptr;
  auto last = std::make_shared<int>(-1);
  return [what, last](uint64_t done, uint64_t total) {
    const int pct = total ? static_cast<int>(100 * done / total) : 100;
    if (pct == *last) return;
    *last = pct;
    std::fprintf(stderr, "\r%s %3d%%%s", what.c_str(), pct, pct == 100 ? "\n" : "");
  };
}

// The shipped config a --family stands for.
std::string family_config(const std::string& family) {
  const std::optional<Family> f = family_of_model_type(family);
  if (!f)
    MESHLM_FAIL("unknown --family '" << family << "' (expected one of " << family_list() << ")");
  switch (*f) {
    case Family::mixtral:
      return "mixtral-8x7b-v0.1";
    case Family::gpt_oss:
      return "gpt-oss-20b";
    case Family::mistral:
      return "mistral-7b-v0.1";
    case Family::qwen2:
      return "qwen2-7b";
    default:
      return "tinyllama-1.1b";
  }
}

int run_make(std::string config, const std::string& family, const ConfigOverrides& overrides,
             uint64_t seed, const std::string& out, const std::string& dtype,
             const std::string& shard_size, bool mxfp4) {
  if (config.empty() == family.empty())
    MESHLM_FAIL("give either --config or --family (a shipped config of that family)");
  if (!family.empty()) config = family_config(family);
  const ModelConfig c = load_config_with_overrides(config, overrides);
  WriteOptions options;
  options.dtype = parse_dtype(dtype);
  options.mxfp4 = mxfp4;
  if (mxfp4 && c.family != Family::gpt_oss)
    MESHLM_FAIL("--mxfp4 writes gpt-oss's layout (experts as MXFP4 blocks and scales); model "
                << c.name << " is " << c.model_type);
  if (!shard_size.empty()) options.max_shard_bytes = parse_bytes(shard_size);
  options.progress = progress_printer("writing " + out);
  spdlog::info(
      "{}: {} layers, dim {}, hidden {}, heads {}/{} (head_dim {}), vocab {}, seq {}, {} "
      "parameters, seed {}",
      c.name, c.num_layers, c.hidden_size, c.intermediate_size, c.num_heads, c.num_kv_heads,
      c.head_dim, c.vocab_size, c.max_position_embeddings, format_count(parameter_count(c)), seed);
  const MadeModel made = make_random_model(c, seed, out, options);
  for (const std::string& f : made.files) std::printf("wrote %s\n", f.c_str());
  if (!made.llama2c_skipped.empty())
    std::printf("no llama2.c form (model.bin): %s\n", made.llama2c_skipped.c_str());
  return 0;
}

int run_inspect(const std::string& path, bool synthetic, uint64_t seed, bool read,
                const std::string& read_dtype) {
  const auto ckpt = synthetic ? synthetic_checkpoint(load_config_with_overrides(path, {}), seed)
                              : open_checkpoint(path);
  std::printf("%s\nconfig: %s\n", ckpt->describe().c_str(),
              ckpt->config().to_hf_json().dump().c_str());
  uint64_t params = 0;
  for (const std::string& name : ckpt->tensor_names()) params += num_elements(ckpt->shape(name));
  std::printf("%zu tensors, %s parameters\n", ckpt->tensor_names().size(),
              format_count(params).c_str());
  for (const std::string& name : ckpt->tensor_names())
    std::printf("  %-52s %-16s %s\n", name.c_str(), shape_to_string(ckpt->shape(name)).c_str(),
                dtype_name(ckpt->stored_dtype(name)));
  if (!read) return 0;
  // Reads every tensor in full (blocks of 16 MiB of rows) and reports the
  // time spent in read_block and a checksum (the sum of all values as fp32)
  // that must agree between the formats of the same weights.
  using clock = std::chrono::steady_clock;
  const DType dst = parse_dtype(read_dtype);
  const auto start = clock::now();
  double sum = 0, checksum_s = 0;
  uint64_t done = 0;
  auto progress = progress_printer("reading");
  for (const std::string& name : ckpt->tensor_names()) {
    read_in_row_chunks(
        *ckpt, name, dst, int64_t{16} << 20, [&](const void* data, int64_t, int64_t rows) {
          const auto t0 = clock::now();
          const int64_t n =
              rows * (num_elements(ckpt->shape(name)) / std::max<int64_t>(1, ckpt->shape(name)[0]));
          double s = 0;
          for (int64_t i = 0; i < n; ++i)
            s += dst == DType::f32 ? static_cast<const float*>(data)[i]
                                   : bf16_to_float(static_cast<const bf16*>(data)[i]);
          sum += s;
          done += n;
          if (progress) progress(done, params);
          checksum_s += std::chrono::duration<double>(clock::now() - t0).count();
        });
  }
  const double total_s = std::chrono::duration<double>(clock::now() - start).count();
  const double read_s = total_s - checksum_s;
  const double bytes = static_cast<double>(done) * (dst == DType::f32 ? 4 : 2);
  std::printf("read %s as %s: %s in read_block (%s/s written), checksum %.9g\n",
              format_bytes(bytes).c_str(), dtype_name(dst), format_seconds(read_s).c_str(),
              format_bytes(bytes / read_s).c_str(), sum);
  return 0;
}

int run_quantize(const std::string& model, const std::string& dtype, const std::string& out) {
  const auto ckpt = open_checkpoint(model);
  const DType t = parse_dtype(dtype);
  spdlog::info("{}: quantizing to {} (blocks of 32, one bf16 scale each)", ckpt->describe(),
               dtype_name(t));
  WriteOptions options;
  options.progress = progress_printer("writing " + out);
  for (const std::string& f : write_quantized_checkpoint(*ckpt, out, t, options))
    std::printf("wrote %s\n", f.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mesh-model: make random-weight models, inspect and quantize checkpoints"};
  app.require_subcommand(1);

  std::string config, out, dtype = "fp32", shard_size;
  uint64_t seed = 0;
  meshlm::ConfigOverrides o;
  auto* make = app.add_subcommand(
      "make", "Write synthetic weights as config.json + safetensors (+ model.bin for llama2.c)");
  std::string family;
  bool mxfp4 = false;
  make->add_option("--config", config,
                   "HF config.json, a directory holding one, or a name in configs/models/");
  make->add_option("--family", family,
                   "Instead of --config: the shipped config of a family (llama, mistral, qwen2, "
                   "mixtral, gpt_oss), shrunk with the overrides below");
  make->add_flag("--mxfp4", mxfp4,
                 "gpt_oss: write the experts as MXFP4 blocks and scales, as the released "
                 "checkpoints (quantization_config.quant_method mxfp4)");
  make->add_option("--seed", seed, "Seed of the synthetic weights")->required();
  make->add_option("--out", out, "Output directory")->required();
  make->add_option("--dtype", dtype, "Safetensors dtype: fp32, bf16 or fp16")
      ->capture_default_str();
  make->add_option("--shard-size", shard_size,
                   "Split the safetensors into files of at most this size (e.g. 64MiB)");
  make->add_option("--dim", o.hidden_size, "Override hidden_size");
  make->add_option("--hidden-dim", o.intermediate_size, "Override intermediate_size");
  make->add_option("--layers", o.num_layers, "Override num_hidden_layers");
  make->add_option("--heads", o.num_heads, "Override num_attention_heads");
  make->add_option("--kv-heads", o.num_kv_heads, "Override num_key_value_heads");
  make->add_option("--head-dim", o.head_dim,
                   "Override head_dim (default dim/heads when those change)");
  make->add_option("--vocab", o.vocab_size, "Override vocab_size");
  make->add_option("--seq-len", o.max_position_embeddings, "Override max_position_embeddings");
  make->add_option("--tie-embeddings", o.tie_word_embeddings,
                   "Override tie_word_embeddings (true/false)");
  make->add_option("--experts", o.num_experts, "Override num_local_experts (MoE)");
  make->add_option("--top-k", o.experts_per_token, "Override the experts per token (MoE)");
  make->add_option("--window", o.sliding_window, "Override sliding_window (0: none)");
  make->add_option("--name", o.name, "Model name (default: the config's file name)");

  std::string path, read_dtype = "fp32";
  bool read = false, synthetic = false;
  auto* inspect = app.add_subcommand("inspect", "Print a checkpoint's config and tensors");
  inspect->add_option("path", path, "llama2.c .bin, HF model directory or .safetensors")
      ->required();
  inspect->add_flag("--synthetic", synthetic,
                    "PATH is a config (file, directory or configs/models name): inspect "
                    "synthetic_checkpoint(config, --seed)");
  inspect->add_option("--seed", seed, "Seed for --synthetic")->capture_default_str();
  inspect->add_flag("--read", read, "Read every tensor, report throughput and a checksum");
  inspect->add_option("--read-dtype", read_dtype, "fp32 or bf16")->capture_default_str();

  std::string quant_model, quant_dtype, quant_out;
  auto* quantize = app.add_subcommand(
      "quantize", "Write a pre-quantized int8/int4 checkpoint (mesh-run loads it as it is)");
  quantize->add_option("--model", quant_model, "Checkpoint to quantize (.bin or HF directory)")
      ->required();
  quantize->add_option("--dtype", quant_dtype, "int8 or int4")->required();
  quantize->add_option("--out", quant_out, "Output directory")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    if (make->parsed()) return run_make(config, family, o, seed, out, dtype, shard_size, mxfp4);
    if (quantize->parsed()) return run_quantize(quant_model, quant_dtype, quant_out);
    return run_inspect(path, synthetic, seed, read, read_dtype);
  } catch (const meshlm::Error& e) {
    std::fprintf(stderr, "mesh-model: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mesh-model: error: %s\n", e.what());
    return 1;
  }
}

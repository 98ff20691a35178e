// Writers of checkpoints (Hugging Face safetensors and llama2.c) from any
// Checkpoint, and make_random_model(): the same synthetic weights in both
// formats (mesh-model make), for tests and benchmarks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/io/checkpoint.h"

namespace meshlm {

struct WriteOptions {
  DType dtype = DType::f32;      // safetensors element type: fp32, bf16 or fp16
  uint64_t max_shard_bytes = 0;  // > 0: several safetensors files + model.safetensors.index.json
  // gpt-oss's released layout: experts' matrices as MXFP4 blocks and scales
  // (config quant_method "mxfp4"), everything else in `dtype`.
  bool mxfp4 = false;
  // Called after each chunk with (bytes written, bytes to write) of the file being written.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Writes dir/config.json (src.config().to_hf_json()) and dir/model.safetensors
// — or model-0000i-of-0000n.safetensors and model.safetensors.index.json when
// max_shard_bytes is set — holding every tensor of src in inventory order, in
// the Hugging Face files' layout (arch/tensor_roles.h file_tensors: mixtral's
// experts one tensor each, gpt_oss's transposed or MXFP4), converted to
// options.dtype. Creates dir. Returns the paths written.
std::vector<std::string> write_safetensors_checkpoint(const Checkpoint& src, const std::string& dir,
                                                      const WriteOptions& options = {});

// Writes src as a llama2.c .bin: float32, q/k rows permuted back to the
// adjacent-pair layout, RoPE tables filled. Throws (with the reason from
// llama2c_unrepresentable_reason) when the config has no llama2.c form.
void write_llama2c_checkpoint(const Checkpoint& src, const std::string& path,
                              const WriteOptions& options = {});

struct MadeModel {
  std::vector<std::string> files;  // written paths
  std::string llama2c_skipped;     // why model.bin was not written ("" when it was)
};

// Writes synthetic_checkpoint(config, seed) to dir as config.json +
// safetensors, then — when llama2.c can represent the config — dir/model.bin
// converted from the safetensors just written, so both hold the same values
// (bf16/fp16 weights are rounded once, identically for both).
MadeModel make_random_model(const ModelConfig& config, uint64_t seed, const std::string& dir,
                            const WriteOptions& options = {});

}  // namespace meshlm

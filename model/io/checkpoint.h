// Checkpoint: a source of named parameter tensors (canonical Hugging Face
// names and HF layout, DESIGN.md §4-5) from which a rank reads only its own
// block of each tensor — never the whole tensor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "planner/model_config.h"
#include "sharding/dtype.h"
#include "sharding/named_sharding.h"

namespace meshlm {

class Checkpoint {
 public:
  virtual ~Checkpoint() = default;

  virtual const ModelConfig& config() const = 0;
  virtual std::string describe() const = 0;  // "llama2.c checkpoint stories260K.bin (1.0 MiB)"
  virtual std::vector<std::string> tensor_names() const = 0;
  virtual bool has(const std::string& name) const = 0;
  // Throws meshlm::Error naming the tensor (and the file) when absent.
  virtual Shape shape(const std::string& name) const = 0;
  virtual DType stored_dtype(const std::string& name) const = 0;

  // Copies the block of `name` starting at `offset` with extent `block` (one
  // entry per dimension; row-major) into `dst`, converted to `dst_dtype`
  // (f32 or bf16). Throws when the block is out of range.
  virtual void read_block(const std::string& name, const Shape& offset, const Shape& block,
                          DType dst_dtype, void* dst) const = 0;
};

// Opens a llama2.c `.bin`, a Hugging Face model directory (config.json +
// model.safetensors or model.safetensors.index.json), or a `.safetensors`
// file with config.json beside it. Files are memory-mapped. Validates before
// returning: file size against the header (truncated/corrupt files), every
// tensor of tensor_inventory(config) present with its exact shape, offsets
// within the file — errors name the file, the tensor and both sizes.
std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path);

// Deterministic random weights generated directly per block, for any config
// (no file): element (name, flat index) has the same value whatever block is
// read, so every mesh sees the same model.
std::unique_ptr<Checkpoint> synthetic_checkpoint(const ModelConfig& config, uint64_t seed);

// The whole tensor `name` as fp32 (for small tensors, tests and tools; the
// runtime reads blocks).
std::vector<float> read_tensor_f32(const Checkpoint& checkpoint, const std::string& name);

}  // namespace meshlm

// Checkpoint: a source of named parameter tensors (canonical Hugging Face
// names and HF layout, docs/DESIGN.md §4-5) from which a rank reads only its own
// block of each tensor — never the whole tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "arch/tensor_roles.h"
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
  // (f32, bf16 or f16; narrowing rounds to nearest even; int8/int4 from a
  // pre-quantized checkpoint, model/io/quantized_checkpoint.h).
  // `dst` must be aligned for dst_dtype. Throws when the block is out of
  // range. Thread-compatible: concurrent reads of one checkpoint are safe.
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
// read, so every mesh sees the same model. Values are uniform (splitmix64 of
// seed, name and index): linear weights in ±1/sqrt(in_features), embeddings
// in ±1, norms in 1 ± 0.1, biases in ±0.1, attention sinks in ±1. Stored
// dtype f32.
std::unique_ptr<Checkpoint> synthetic_checkpoint(const ModelConfig& config, uint64_t seed);

// The whole tensor `name` as fp32 (for small tensors, tests and tools; the
// runtime reads blocks).
std::vector<float> read_tensor_f32(const Checkpoint& checkpoint, const std::string& name);

// Reads the whole tensor `name` in blocks of whole rows (dimension 0) of at
// most `chunk_bytes` (at least one row) converted to `dst_dtype`, calling
// fn(data, first_row, rows) for each block, in order.
void read_in_row_chunks(
    const Checkpoint& checkpoint, const std::string& name, DType dst_dtype, int64_t chunk_bytes,
    const std::function<void(const void* data, int64_t first_row, int64_t rows)>& fn);

}  // namespace meshlm

// StoredCheckpoint: the part shared by file-backed checkpoints (llama2.c and
// safetensors): a table of tensors that live in memory-mapped files, each
// with its stored dtype, shape and (for llama2.c q/k) a row permutation, and
// the validation of that table against the model config. Block reads
// (stored_read.cpp) undo what the files do differently from the logical
// tensors: row permutations, transposition, per-expert tensors, quantization.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/io/checkpoint.h"
#include "model/io/mapped_file.h"
#include "model/io/quantized_checkpoint.h"

namespace meshlm {

// A logical tensor (the model's shape, arch/tensor_roles.h) as the files
// store it: row-major in a mapped file, possibly transposed, quantized, or
// one file tensor per expert.
struct StoredTensor {
  const std::byte* data = nullptr;     // first element (quantized: the first row's data)
  DType dtype = DType::f32;            // f32, bf16, f16; int8/int4/mxfp4 when quantized
  const bf16* scales = nullptr;        // int8/int4: [rows][ceil(cols / 32)] block scales
  const uint8_t* exponents = nullptr;  // mxfp4: [rows][ceil(cols / 32)] E8M0 scales
  Shape shape;                         // logical; quantized: [..., rows, cols] elements
  const MappedFile* file = nullptr;
  // When set: logical row r (dim 0) is stored at row (*row_map)[r].
  std::shared_ptr<const std::vector<int64_t>> row_map;
  bool transposed = false;          // the file holds [..., cols, rows]
  std::vector<StoredTensor> parts;  // per expert: logical [E, ...] = stack of parts
};

class StoredCheckpoint : public Checkpoint {
 public:
  const ModelConfig& config() const override { return config_; }
  std::string describe() const override { return description_; }
  std::vector<std::string> tensor_names() const override;
  bool has(const std::string& name) const override { return tensors_.count(name) > 0; }
  Shape shape(const std::string& name) const override { return find(name).shape; }
  DType stored_dtype(const std::string& name) const override { return find(name).dtype; }
  void read_block(const std::string& name, const Shape& offset, const Shape& block, DType dst_dtype,
                  void* dst) const override;

 protected:
  const StoredTensor& find(const std::string& name) const;
  // Checks that every tensor of tensor_inventory(config_) is present in the
  // files (as file_tensors() says: per expert, transposed, or mxfp4 blocks
  // and scales when `mxfp4`) with its exact shape, and that no tensor outside
  // the inventory belongs to the model (e.g. a layer beyond num_layers);
  // `where` names the checkpoint in errors. Keeps only the inventory's
  // logical tensors, in inventory order.
  void validate_against_config(const std::string& where, bool mxfp4 = false);
  // A pre-quantized checkpoint (model/io/quantized_checkpoint.h): folds every
  // matrix's data (U8) and ".scales" (BF16) entries into one int8/int4 tensor
  // of the model's shape, checking both shapes. Before validate_against_config.
  void fold_quantized(DType dtype, const std::string& where);

  ModelConfig config_;
  std::string description_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, StoredTensor> tensors_;
  std::vector<std::string> order_;  // inventory order
};

}  // namespace meshlm

#include "model/io/stored_checkpoint.h"

#include <set>

#include "model/io/block_copy.h"
#include "model/ops/quant.h"
#include "sharding/error.h"

namespace meshlm {

namespace {

// Tensors a Hugging Face checkpoint may hold that are not parameters of the
// model (old rotary caches) or that the config makes redundant (an lm_head
// saved next to tied embeddings).
bool ignorable_extra(const std::string& name, const ModelConfig& config) {
  const std::string inv = "rotary_emb.inv_freq";
  if (name.size() >= inv.size() && name.compare(name.size() - inv.size(), inv.size(), inv) == 0)
    return true;
  // (and its block scales, in a pre-quantized checkpoint)
  const std::string head = tensor_name(TensorRole::lm_head);
  return config.tie_word_embeddings && (name == head || name == head + kScalesSuffix);
}

}  // namespace

std::vector<std::string> StoredCheckpoint::tensor_names() const {
  return order_;
}

const StoredTensor& StoredCheckpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) MESHLM_FAIL("tensor '" << name << "' is not in " << description_);
  return it->second;
}

void StoredCheckpoint::fold_quantized(DType dtype, const std::string& where) {
  for (const TensorInfo& info : tensor_inventory(config_)) {
    if (!is_quantized(storage_dtype(info, dtype))) continue;
    // A stack of matrices [E, rows, cols] is stored as the matrix [E * rows, cols].
    const int64_t cols = info.shape.back(), rows = num_elements(info.shape) / cols;
    auto data = tensors_.find(info.name);
    auto scales = tensors_.find(info.name + kScalesSuffix);
    if (data == tensors_.end() || scales == tensors_.end())
      MESHLM_FAIL("pre-quantized " << where << " lacks '" << info.name
                                   << (data == tensors_.end() ? "" : kScalesSuffix)
                                   << "' (each matrix is stored as its " << dtype_name(dtype)
                                   << " data, U8, and its block scales, '<name>" << kScalesSuffix
                                   << "', BF16)");
    const Shape want_data{rows, quant_row_bytes(dtype, cols)},
        want_scales{rows, quant_blocks(cols)};
    if (data->second.dtype != DType::u8 || data->second.shape != want_data)
      MESHLM_FAIL("tensor '" << info.name << "' in " << data->second.file->path() << " is "
                             << dtype_name(data->second.dtype) << " "
                             << shape_to_string(data->second.shape) << ", but the "
                             << dtype_name(dtype) << " data of a " << shape_to_string(info.shape)
                             << " matrix is uint8 " << shape_to_string(want_data));
    if (scales->second.dtype != DType::bf16 || scales->second.shape != want_scales)
      MESHLM_FAIL("tensor '" << scales->first << "' in " << scales->second.file->path() << " is "
                             << dtype_name(scales->second.dtype) << " "
                             << shape_to_string(scales->second.shape)
                             << ", but the block scales of a " << shape_to_string(info.shape)
                             << " tensor are bf16 " << shape_to_string(want_scales)
                             << " (one per 32 columns)");
    StoredTensor t = data->second;
    t.dtype = dtype;
    t.shape = info.shape;
    t.scales = reinterpret_cast<const bf16*>(scales->second.data);
    tensors_.erase(scales);
    tensors_[info.name] = t;
  }
}

void StoredCheckpoint::validate_against_config(const std::string& where, bool mxfp4) {
  std::map<std::string, StoredTensor> kept;
  std::set<std::string> used;
  order_.clear();
  // The file tensor `f` of `info`, present with its exact shape.
  auto get = [&](const TensorInfo& info, const FileTensor& f) -> const StoredTensor& {
    auto it = tensors_.find(f.name);
    if (it == tensors_.end())
      MESHLM_FAIL("tensor '" << f.name << "' (shape " << shape_to_string(f.shape)
                             << ") that the config requires is missing from " << where
                             << ": the config does not match the checkpoint");
    const StoredTensor& t = it->second;
    if (t.shape != f.shape)
      MESHLM_FAIL("tensor '" << f.name << "' in " << (t.file ? t.file->path() : where)
                             << " has shape " << shape_to_string(t.shape) << " but the config "
                             << (f.name == info.name
                                     ? ""
                                     : "(" + info.name + " " + shape_to_string(info.shape) + ") ")
                             << "expects " << shape_to_string(f.shape)
                             << ": the config does not match the checkpoint");
    used.insert(f.name);
    return t;
  };
  for (const TensorInfo& info : tensor_inventory(config_)) {
    std::vector<FileTensor> files = file_tensors(info, mxfp4);
    // meshlm's pre-quantized files (fold_quantized) hold every matrix as its
    // logical tensor, whatever the Hugging Face layout of its family.
    auto folded = tensors_.find(info.name);
    if (folded != tensors_.end() && is_quantized(folded->second.dtype))
      files = {{info.name, info.shape, FileTensor::whole}};
    StoredTensor logical;
    switch (files[0].part) {
      case FileTensor::whole:
        logical = get(info, files[0]);
        break;
      case FileTensor::transposed:
        logical = get(info, files[0]);
        logical.transposed = true;
        break;
      case FileTensor::one_expert:
        for (const FileTensor& f : files) {
          logical.parts.push_back(get(info, f));
          if (logical.parts.back().dtype != logical.parts[0].dtype)
            MESHLM_FAIL("tensor '" << f.name << "' is " << dtype_name(logical.parts.back().dtype)
                                   << " but '" << files[0].name << "' is "
                                   << dtype_name(logical.parts[0].dtype)
                                   << " (the experts of one layer share a dtype)");
        }
        logical.dtype = logical.parts[0].dtype;
        logical.file = logical.parts[0].file;
        break;
      case FileTensor::mx_blocks:
      case FileTensor::mx_scales: {
        const StoredTensor& blocks = get(info, files[0]);
        const StoredTensor& scales = get(info, files[1]);
        for (const auto* f : {&files[0], &files[1]}) {
          const StoredTensor& t = f == &files[0] ? blocks : scales;
          if (t.dtype != DType::u8)
            MESHLM_FAIL("tensor '" << f->name << "' in " << t.file->path() << " is "
                                   << dtype_name(t.dtype) << ", but mxfp4 "
                                   << (f == &files[0] ? "blocks" : "scales") << " are uint8");
        }
        logical.data = blocks.data;
        logical.exponents = reinterpret_cast<const uint8_t*>(scales.data);
        logical.dtype = DType::mxfp4;
        logical.file = blocks.file;
        break;
      }
    }
    logical.shape = info.shape;
    kept.emplace(info.name, std::move(logical));
    order_.push_back(info.name);
  }
  for (const auto& [name, t] : tensors_)
    if (!used.count(name) && !ignorable_extra(name, config_))
      MESHLM_FAIL("tensor '" << name << "' in " << (t.file ? t.file->path() : where)
                             << " is not a parameter of the configured model ("
                             << config_.model_type << ", " << config_.num_layers
                             << " layers): the config does not match the checkpoint");
  tensors_ = std::move(kept);
}

}  // namespace meshlm

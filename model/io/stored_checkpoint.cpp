#include "model/io/stored_checkpoint.h"

#include "model/io/block_copy.h"
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
  return name == tensor_name(TensorRole::lm_head) && config.tie_word_embeddings;
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

void StoredCheckpoint::read_block(const std::string& name, const Shape& offset, const Shape& block,
                                  DType dst_dtype, void* dst) const {
  const StoredTensor& t = find(name);
  check_block(name, t.shape, offset, block, dst_dtype);
  const int64_t src_bytes = element_bytes(t.dtype);
  const int64_t dst_bytes = element_bytes(dst_dtype);
  auto* out = static_cast<std::byte*>(dst);
  const std::vector<int64_t>* row_map = t.row_map.get();
  const int64_t row_elems = t.shape.empty() ? 1 : num_elements(t.shape) / t.shape[0];
  for_each_block_run(
      t.shape, offset, block, row_map != nullptr, [&](int64_t src, int64_t dst_index, int64_t n) {
        if (row_map) src = (*row_map)[src / row_elems] * row_elems + src % row_elems;
        if (!convert_elements(t.data + src * src_bytes, t.dtype, out + dst_index * dst_bytes,
                              dst_dtype, n))
          MESHLM_FAIL("tensor '" << name << "' in " << (t.file ? t.file->path() : describe())
                                 << " holds NaN or Inf values (among elements " << src << ".."
                                 << src + n - 1 << " of its block read): corrupt checkpoint");
      });
}

void StoredCheckpoint::validate_against_config(const std::string& where) {
  std::map<std::string, StoredTensor> kept;
  order_.clear();
  for (const TensorInfo& info : tensor_inventory(config_)) {
    auto it = tensors_.find(info.name);
    if (it == tensors_.end())
      MESHLM_FAIL("tensor '" << info.name << "' (shape " << shape_to_string(info.shape)
                             << ") that the config requires is missing from " << where
                             << ": the config does not match the checkpoint");
    const StoredTensor& t = it->second;
    if (t.shape != info.shape)
      MESHLM_FAIL("tensor '" << info.name << "' in " << (t.file ? t.file->path() : where)
                             << " has shape " << shape_to_string(t.shape)
                             << " but the config expects " << shape_to_string(info.shape)
                             << ": the config does not match the checkpoint");
    kept.emplace(info.name, t);
    order_.push_back(info.name);
  }
  for (const auto& [name, t] : tensors_)
    if (!kept.count(name) && !ignorable_extra(name, config_))
      MESHLM_FAIL("tensor '" << name << "' in " << (t.file ? t.file->path() : where)
                             << " is not a parameter of the configured model ("
                             << config_.model_type << ", " << config_.num_layers
                             << " layers): the config does not match the checkpoint");
  tensors_ = std::move(kept);
}

}  // namespace meshlm

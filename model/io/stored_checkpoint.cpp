#include "model/io/stored_checkpoint.h"

#include <cmath>
#include <cstring>

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

void StoredCheckpoint::read_block(const std::string& name, const Shape& offset, const Shape& block,
                                  DType dst_dtype, void* dst) const {
  const StoredTensor& t = find(name);
  if (is_quantized(t.dtype)) return read_quantized_block(name, t, offset, block, dst_dtype, dst);
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

void StoredCheckpoint::fold_quantized(DType dtype, const std::string& where) {
  for (const TensorInfo& info : tensor_inventory(config_)) {
    if (!is_quantized(storage_dtype(info, dtype))) continue;
    const int64_t rows = info.shape[0], cols = info.shape[1];
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
                             << " matrix are bf16 " << shape_to_string(want_scales)
                             << " (one per 32 columns)");
    StoredTensor t = data->second;
    t.dtype = dtype;
    t.shape = info.shape;
    t.scales = reinterpret_cast<const bf16*>(scales->second.data);
    tensors_.erase(scales);
    tensors_[info.name] = t;
  }
}

void StoredCheckpoint::read_quantized_block(const std::string& name, const StoredTensor& t,
                                            const Shape& offset, const Shape& block,
                                            DType dst_dtype, void* dst) const {
  const int64_t rows = t.shape[0], cols = t.shape[1];
  if (offset.size() != 2 || block.size() != 2)
    MESHLM_FAIL("block " << shape_to_string(offset) << " + " << shape_to_string(block)
                         << " of tensor '" << name << "' is not 2-D");
  const int64_t c0 = offset[1], n = block[1];
  if (offset[0] < 0 || block[0] < 0 || offset[0] + block[0] > rows || c0 < 0 || n < 0 ||
      c0 + n > cols)
    MESHLM_FAIL("block " << shape_to_string(offset) << " + " << shape_to_string(block)
                         << " is outside tensor '" << name << "' " << shape_to_string(t.shape));
  if (c0 % kQuantBlock != 0 || (c0 + n != cols && n % kQuantBlock != 0))
    MESHLM_FAIL("columns [" << c0 << ", " << c0 + n << ") of pre-quantized tensor '" << name
                            << "' cut a block of " << kQuantBlock
                            << " (a shard holds whole blocks)");
  const int64_t row_bytes = quant_row_bytes(t.dtype, cols), blocks = quant_blocks(cols);
  const int64_t b0 = c0 / kQuantBlock, nb = quant_blocks(n), bytes = quant_row_bytes(t.dtype, n);
  const int64_t byte0 = t.dtype == DType::i8 ? c0 : c0 / 2;
  auto row_data = [&](int64_t r) { return t.data + (offset[0] + r) * row_bytes + byte0; };
  auto row_scales = [&](int64_t r) { return t.scales + (offset[0] + r) * blocks + b0; };
  // Scales are checked as they are read, as every other read checks its values.
  for (int64_t r = 0; r < block[0]; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      bf16 s;
      std::memcpy(&s, row_scales(r) + b, sizeof s);
      if (!std::isfinite(bf16_to_float(s)))
        MESHLM_FAIL("tensor '" << name << kScalesSuffix << "' in " << t.file->path()
                               << " holds NaN or Inf scales (row " << offset[0] + r << ", block "
                               << b0 + b << "): corrupt checkpoint");
    }
  if (dst_dtype == t.dtype) {  // the device layout: the block's scale rows, then its data rows
    auto* out = static_cast<std::byte*>(dst);
    for (int64_t r = 0; r < block[0]; ++r)
      std::memcpy(out + r * nb * 2, row_scales(r), static_cast<size_t>(nb * 2));
    out += block[0] * nb * 2;
    for (int64_t r = 0; r < block[0]; ++r)
      std::memcpy(out + r * bytes, row_data(r), static_cast<size_t>(bytes));
    return;
  }
  if (dst_dtype != DType::f32)
    MESHLM_FAIL("pre-quantized tensor '" << name << "' (" << dtype_name(t.dtype)
                                         << ") can be read as " << dtype_name(t.dtype)
                                         << " or dequantized to fp32, not as "
                                         << dtype_name(dst_dtype));
  // Dequantized (q * s) through a one-row matrix view of each row's block.
  std::vector<std::byte> one(quant_matrix_bytes(t.dtype, 1, n));
  for (int64_t r = 0; r < block[0]; ++r) {
    std::memcpy(one.data(), row_scales(r), static_cast<size_t>(nb * 2));
    std::memcpy(one.data() + nb * 2, row_data(r), static_cast<size_t>(bytes));
    QuantMatrix::of(one.data(), t.dtype, 1, n)
        .dequantize_row(0, 0, n, static_cast<float*>(dst) + r * n);
  }
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

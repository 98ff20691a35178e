#include "model/weights.h"

#include <algorithm>
#include <cstring>

#include "arch/shard_layout.h"
#include "sharding/error.h"

namespace meshlm {

WeightView ShardedTensor::view() const {
  MESHLM_CHECK(shape.size() == 2, name << " is not a matrix");
  return rows_view(0, shape[0]);
}

WeightView ShardedTensor::rows_view(int64_t row0, int64_t rows) const {
  MESHLM_CHECK(shape.size() == 2 && row0 >= 0 && row0 + rows <= shape[0],
               "rows [" << row0 << ", " << row0 + rows << ") outside " << name << " block "
                        << shape_to_string(shape));
  const int64_t cols = shape[1];
  if (is_quantized(dtype)) {
    const QuantMatrix m = QuantMatrix::of(ptr(), dtype, shape[0], cols);
    return WeightView{m.data + row0 * m.row_bytes, dtype, rows, cols, m.scales + row0 * m.blocks};
  }
  const auto* base = static_cast<const std::byte*>(ptr());
  return WeightView{base + dtype_bytes(dtype, static_cast<uint64_t>(row0 * cols)), dtype, rows,
                    cols};
}

QuantMatrix ShardedTensor::quantized() const {
  MESHLM_CHECK(is_quantized(dtype) && shape.size() == 2, name << " is not a quantized matrix");
  return QuantMatrix::of(ptr(), dtype, shape[0], shape[1]);
}

namespace {

// Reads this device's block of a rank-2 tensor and quantizes it into `dst`,
// some rows at a time (the fp32 staging stays small; its bytes are not device
// memory). The block starts on a quantization block boundary (shard_layout
// checks it), so its blocks are the unsharded tensor's.
void read_quantized(const Checkpoint& ckpt, const ShardedTensor& t, std::byte* dst) {
  const int64_t rows = t.shape[0], cols = t.shape[1];
  const int64_t step = std::max<int64_t>(1, (int64_t{4} << 20) / (4 * std::max<int64_t>(cols, 1)));
  std::vector<float> staging(static_cast<size_t>(std::min(rows, step) * cols));
  // Straight into the device layout: all rows' scales, then all rows' data.
  const int64_t blocks = quant_blocks(cols), row_bytes = quant_row_bytes(t.dtype, cols);
  auto* scales = reinterpret_cast<bf16*>(dst);
  std::byte* data = dst + rows * blocks * 2;
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t n = std::min(step, rows - r0);
    ckpt.read_block(t.name, {t.offset[0] + r0, t.offset[1]}, {n, cols}, DType::f32, staging.data());
    quantize_rows(staging.data(), n, cols, cols, t.dtype, scales + r0 * blocks,
                  data + r0 * row_bytes);
  }
}

}  // namespace

ModelWeights load_weights(const Checkpoint& ckpt, const Plan& plan, const std::vector<int>& coords,
                          DeviceMemory& memory, const LoadProgressFn& progress) {
  const ModelConfig& c = ckpt.config();
  const auto inventory = tensor_inventory(c);

  ModelWeights w;
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (auto& t : inventory)
    if (t.expert >= 0) {
      auto& experts = w.layers[static_cast<size_t>(t.layer)].experts;
      experts.resize(std::max(experts.size(), static_cast<size_t>(t.expert + 1)));
    }
  auto slot = [&](const TensorInfo& t) -> ShardedTensor& {
    if (t.layer < 0) return w.model[t.role];
    LayerWeights& layer = w.layers[static_cast<size_t>(t.layer)];
    return t.expert < 0 ? layer[t.role] : layer.experts[static_cast<size_t>(t.expert)][t.role];
  };

  std::vector<ShardedTensor*> todo;
  LoadProgress p;
  for (auto& t : inventory) {
    ShardedTensor* dst = &slot(t);
    const NamedSharding sh = plan.sharding_for(t.name);
    dst->name = t.name;
    dst->global_shape = t.shape;
    dst->shape = sh.shard_shape(t.shape, t.name);
    dst->offset = sh.shard_offset(t.shape, coords, t.name);
    dst->dtype = tensor_dtype(plan, t);
    todo.push_back(dst);
    p.bytes_total += weight_bytes(dst->shape, dst->dtype);
  }
  p.tensors_total = static_cast<int64_t>(todo.size());
  if (progress) progress(p);
  for (ShardedTensor* dst : todo) {
    const uint64_t bytes = weight_bytes(dst->shape, dst->dtype);
    dst->data = DeviceBuffer<std::byte>(memory, MemCategory::weights, bytes, dst->name);
    if (is_quantized(dst->dtype) && ckpt.stored_dtype(dst->name) != dst->dtype)
      read_quantized(ckpt, *dst, dst->data.data());  // quantized here; a pre-quantized one is read
    else
      ckpt.read_block(dst->name, dst->offset, dst->shape, dst->dtype, dst->data.data());
    p.bytes_done += bytes;
    ++p.tensors_done;
    if (progress) progress(p);
  }
  return w;
}

}  // namespace meshlm

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

namespace {

// Rows [row0, row0 + n) of the [rows, cols] matrix at `base` (in the device
// layout of `dtype`: quantized ones are [scales][data]).
WeightView matrix_rows(const std::byte* base, DType dtype, int64_t rows, int64_t cols, int64_t row0,
                       int64_t n) {
  if (is_quantized(dtype)) {
    const QuantMatrix m = QuantMatrix::of(base, dtype, rows, cols);
    WeightView v{m.data + row0 * m.row_bytes, dtype, n, cols};
    if (m.scales) v.scales = m.scales + row0 * m.blocks;
    if (m.exponents) v.exponents = m.exponents + row0 * m.blocks;
    return v;
  }
  return WeightView{base + dtype_bytes(dtype, static_cast<uint64_t>(row0 * cols)), dtype, n, cols};
}

}  // namespace

WeightView ShardedTensor::rows_view(int64_t row0, int64_t rows) const {
  MESHLM_CHECK(shape.size() == 2 && row0 >= 0 && row0 + rows <= shape[0],
               "rows [" << row0 << ", " << row0 + rows << ") outside " << name << " block "
                        << shape_to_string(shape));
  return matrix_rows(static_cast<const std::byte*>(ptr()), dtype, shape[0], shape[1], row0, rows);
}

WeightView ShardedTensor::expert_view(int64_t e) const {
  MESHLM_CHECK(shape.size() == 3 && e >= 0 && e < shape[0],
               "expert " << e << " outside " << name << " block " << shape_to_string(shape));
  const int64_t rows = shape[1], cols = shape[2];
  const auto* base = static_cast<const std::byte*>(ptr()) + e * weight_bytes({rows, cols}, dtype);
  return matrix_rows(base, dtype, rows, cols, 0, rows);
}

QuantMatrix ShardedTensor::quantized() const {
  MESHLM_CHECK(is_quantized(dtype) && shape.size() == 2, name << " is not a quantized matrix");
  return QuantMatrix::of(ptr(), dtype, shape[0], shape[1]);
}

namespace {

// Reads this device's block of a matrix (or of each matrix of a stack
// [E_l, rows, cols]) and quantizes it into `dst`, some rows at a time (the
// staging stays small; its bytes are not device memory). The block starts on
// a quantization block boundary (shard_layout checks it), so its blocks are
// the unsharded tensor's.
void read_quantized(const Checkpoint& ckpt, const ShardedTensor& t, std::byte* dst) {
  const size_t nd = t.shape.size();
  const int64_t rows = t.shape[nd - 2], cols = t.shape[nd - 1], stack = nd == 3 ? t.shape[0] : 1;
  const int64_t step = std::max<int64_t>(1, (int64_t{4} << 20) / (4 * std::max<int64_t>(cols, 1)));
  std::vector<float> staging(static_cast<size_t>(std::min(rows, step) * cols));
  std::vector<std::byte> chunk(quant_matrix_bytes(t.dtype, std::min(rows, step), cols));
  // Straight into the device layout of each matrix: its rows' scales, then their data.
  const int64_t blocks = quant_blocks(cols), row_bytes = quant_row_bytes(t.dtype, cols);
  const int64_t scale_bytes = static_cast<int64_t>(dtype_bytes(quant_scale_dtype(t.dtype), 1));
  for (int64_t m = 0; m < stack; ++m) {
    std::byte* scales = dst + m * static_cast<int64_t>(weight_bytes({rows, cols}, t.dtype));
    std::byte* data = scales + rows * blocks * scale_bytes;
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
      const int64_t n = std::min(step, rows - r0);
      Shape offset = t.offset, block = {n, cols};
      offset[nd - 2] += r0;
      if (nd == 3) {
        offset[0] += m;
        block.insert(block.begin(), 1);
      }
      ckpt.read_block(t.name, offset, block, DType::f32, staging.data());
      quantize_matrix(staging.data(), n, cols, cols, t.dtype, chunk.data());
      std::memcpy(scales + r0 * blocks * scale_bytes, chunk.data(),
                  static_cast<size_t>(n * blocks * scale_bytes));
      std::memcpy(data + r0 * row_bytes, chunk.data() + n * blocks * scale_bytes,
                  static_cast<size_t>(n * row_bytes));
    }
  }
}

}  // namespace

ModelWeights load_weights(const Checkpoint& ckpt, const Plan& plan, const std::vector<int>& coords,
                          DeviceMemory& memory, const LoadProgressFn& progress) {
  const ModelConfig& c = ckpt.config();
  const auto inventory = tensor_inventory(c);

  ModelWeights w;
  w.layers.resize(static_cast<size_t>(c.num_layers));
  auto slot = [&](const TensorInfo& t) -> ShardedTensor& {
    return t.layer < 0 ? w.model[t.role] : w.layers[static_cast<size_t>(t.layer)][t.role];
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

#include "model/weights.h"

#include <algorithm>

#include "arch/shard_layout.h"
#include "sharding/error.h"

namespace meshlm {

WeightView ShardedTensor::view() const {
  MESHLM_CHECK(shape.size() == 2, name << " is not a matrix");
  return WeightView{data.data(), dtype, shape[0], shape[1]};
}

WeightView ShardedTensor::rows_view(int64_t row0, int64_t rows) const {
  MESHLM_CHECK(shape.size() == 2 && row0 >= 0 && row0 + rows <= shape[0],
               "rows [" << row0 << ", " << row0 + rows << ") outside " << name << " block "
                        << shape_to_string(shape));
  const auto* base = static_cast<const std::byte*>(ptr());
  return WeightView{base + dtype_bytes(dtype, static_cast<uint64_t>(row0 * shape[1])), dtype, rows,
                    shape[1]};
}

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
    dst->dtype = tensor_dtype(plan, t.name);
    todo.push_back(dst);
    p.bytes_total += dtype_bytes(dst->dtype, static_cast<uint64_t>(num_elements(dst->shape)));
  }
  p.tensors_total = static_cast<int64_t>(todo.size());
  if (progress) progress(p);
  for (ShardedTensor* dst : todo) {
    const uint64_t bytes = dtype_bytes(dst->dtype, static_cast<uint64_t>(num_elements(dst->shape)));
    dst->data = DeviceBuffer<std::byte>(memory, MemCategory::weights, bytes, dst->name);
    ckpt.read_block(dst->name, dst->offset, dst->shape, dst->dtype, dst->data.data());
    p.bytes_done += bytes;
    ++p.tensors_done;
    if (progress) progress(p);
  }
  return w;
}

}  // namespace meshlm

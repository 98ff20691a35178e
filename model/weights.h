// The weights one device holds: for every tensor of the model, only the
// block the plan's NamedSharding assigns to this device's coordinates, read
// with Checkpoint::read_block straight into device memory (category weights),
// in the plan's dtype for that tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arch/tensor_roles.h"
#include "mesh/device_memory.h"
#include "model/io/checkpoint.h"
#include "model/ops/linear.h"
#include "model/ops/quant.h"
#include "sharding/plan.h"

namespace meshlm {

// One tensor's block on this device.
struct ShardedTensor {
  std::string name;
  Shape global_shape;  // the whole tensor
  Shape offset;        // where this block starts in it
  Shape shape;         // the block: NamedSharding::shard_shape
  DType dtype = DType::f32;
  DeviceBuffer<std::byte> data;

  bool empty() const { return shape.empty(); }  // a tensor the model does not have
  const void* ptr() const { return data.data(); }
  // A 2-D weight [rows, cols] as a linear() operand.
  WeightView view() const;
  // Rows [row0, row0 + rows) of a 2-D block (e.g. the KV heads a device reads
  // out of a replicated k_proj).
  WeightView rows_view(int64_t row0, int64_t rows) const;
  // Matrix e of a stack [E_l, out, in] (an expert's weights; e local).
  WeightView expert_view(int64_t e) const;
  // A 2-D quantized block (model/ops/quant.h).
  QuantMatrix quantized() const;
};

// One decoder layer's blocks, by role: w[TensorRole::q] is q_proj. Each
// role's global shape and default spec are in its row of the tensor-role
// table (arch/tensor_roles.h); roles the model lacks stay empty. Experts'
// weights are stacks [E_l, out, in], one matrix per local expert.
using LayerWeights = PerRole<ShardedTensor>;

struct ModelWeights {
  PerRole<ShardedTensor> model;  // model-scope roles: embed, final_norm, lm_head
  std::vector<LayerWeights> layers;
  const ShardedTensor& operator[](TensorRole r) const { return model[r]; }
  // lm_head, or the embedding when they are tied.
  const ShardedTensor& classifier() const {
    return model[TensorRole::lm_head].empty() ? model[TensorRole::embed]
                                              : model[TensorRole::lm_head];
  }
};

struct LoadProgress {
  int64_t tensors_done = 0, tensors_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;  // this device's bytes
};
using LoadProgressFn = std::function<void(const LoadProgress&)>;

// Reads this device's block of every tensor of the checkpoint's model.
// `coords` are the device's mesh coordinates (plan mesh order).
ModelWeights load_weights(const Checkpoint& checkpoint, const Plan& plan,
                          const std::vector<int>& coords, DeviceMemory& memory,
                          const LoadProgressFn& progress = {});

}  // namespace meshlm

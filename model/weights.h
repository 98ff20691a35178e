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

#include "mesh/device_memory.h"
#include "model/io/checkpoint.h"
#include "model/ops/linear.h"
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
};

// One decoder layer. Shapes are global [..]; the spec (Megatron scheme,
// DESIGN.md §4) decides the block each device holds.
struct LayerWeights {
  ShardedTensor attn_norm;               // input_layernorm [D]                     P(None)
  ShardedTensor q, k, v;                 // q_proj [H*hd, D], k/v_proj [K*hd, D]      P('mp', None)
  ShardedTensor q_bias, k_bias, v_bias;  // [H*hd], [K*hd] (qwen2)      P('mp')
  ShardedTensor o;                       // o_proj [D, H*hd]                          P(None, 'mp')
  ShardedTensor o_bias;                  // [D] (llama attention_bias)               P(None)
  ShardedTensor mlp_norm;                // post_attention_layernorm [D]              P(None)
  ShardedTensor gate, up;                // gate_proj / up_proj [I, D]                P('mp', None)
  ShardedTensor down;                    // down_proj [D, I]                          P(None, 'mp')
};

struct ModelWeights {
  ShardedTensor embed;  // embed_tokens [V, D]   P('mp', None) or replicated
  std::vector<LayerWeights> layers;
  ShardedTensor final_norm;  // norm [D]              P(None)
  ShardedTensor lm_head;     // lm_head [V, D]        P('mp', None); empty when tied
  const ShardedTensor& classifier() const { return lm_head.empty() ? embed : lm_head; }
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

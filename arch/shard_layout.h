// ShardLayout: what one device holds and computes under a plan — its query
// heads, the KV heads they read, its FFN slice, its experts, its vocabulary
// slice, which outputs are partial sums (row-parallel) and its local batch —
// derived from the plan's PartitionSpecs, the tensor-role table and the
// device's mesh coordinates. The planner (per-device sizes) and the runtime
// (what to load and run) both call shard_layout(). Pure: no MPI, no
// allocation; errors name the tensor, its spec and what is needed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/device_bytes.h"
#include "arch/model_config.h"
#include "arch/tensor_roles.h"
#include "sharding/plan.h"

namespace meshlm {

// A half-open range [begin, begin + size) of a global dimension.
struct Slice {
  int64_t begin = 0;
  int64_t size = 0;
  int64_t end() const { return begin + size; }
  bool operator==(const Slice&) const = default;
};

struct ShardLayout {
  // Mesh (axes "dp" and "mp").
  int dp = 1, mp = 1;              // axis sizes
  int dp_index = 0, mp_index = 0;  // this device's coordinates
  std::vector<int> coords;         // in the plan's mesh axis order

  // Attention: local query heads (global head indices), the KV heads they read
  // (K/mp, or 1 when mp > K and KV heads are replicated), and the first
  // global KV head of the k/v weight rows this device holds.
  Slice q_heads;
  Slice kv_heads;
  int64_t kv_weight_head0 = 0;  // k_proj/v_proj shard starts at this KV head
  bool attn_partial = false;    // o_proj split over its input: output all-reduced over mp

  Slice ffn;                 // local slice of the intermediate dimension
  bool mlp_partial = false;  // down_proj split over its input: output all-reduced over mp
  Slice experts;             // local experts (MoE); empty when dense

  Slice embed_rows;            // vocabulary rows of embed_tokens held
  bool embed_sharded = false;  // vocab-parallel lookup + all-reduce over mp
  Slice vocab;                 // vocabulary rows of the classifier (lm_head or tied embedding)
  bool vocab_sharded = false;  // logits gathered over mp

  int64_t batch_local = 1;    // sequences per dp replica (plan batch / dp)
  int64_t seq_len = 1;        // positions per sequence
  int64_t prefill_chunk = 1;  // tokens of one sequence per forward pass in prefill
  int64_t rows = 1;           // max tokens per forward pass: max(prefill_chunk, batch_local)
  DType kv_dtype = DType::f32;

  LocalDims local_dims() const;
  ActivationShape activation_shape() const;
  // Bytes this device allocates per category (arch/device_bytes.h): every
  // tensor's block in its plan dtype, the KV cache, activations, comm staging.
  uint64_t weight_bytes(const ModelConfig& config, const Plan& plan) const;
  uint64_t kv_cache_bytes(const ModelConfig& config) const;
  uint64_t activation_bytes(const ModelConfig& config) const;
  uint64_t comm_bytes(const ModelConfig& config) const;
};

// Validates the plan against the model (every tensor's shape and spec, the
// mesh axes, the batch split) for the device at `coords` and derives what it
// holds. Throws meshlm::Error naming what is wrong.
ShardLayout shard_layout(const ModelConfig& config, const Plan& plan,
                         const std::vector<int>& coords);

// The dtype a tensor is stored in on the device: its plan entry's, else the
// plan's weight dtype as storage_dtype() stores a tensor of its shape.
DType tensor_dtype(const Plan& plan, const TensorInfo& tensor);

}  // namespace meshlm

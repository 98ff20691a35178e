// Causal grouped-query attention of one query token over one sequence's
// (paged) KV cache (the llama2.c reference's order of operations: scores q·k / sqrt(hd),
// max-subtracted softmax, weighted sum of values in position order), with
// optional attention sinks (gpt_oss: a learned logit per head that joins the
// softmax's denominator only).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sharding/dtype.h"

namespace meshlm {

// Which heads this device computes and how its KV cache is laid out.
struct AttentionDims {
  int64_t heads = 1;     // local query heads H_l
  int64_t kv_heads = 1;  // local KV heads K_l
  int64_t head_dim = 1;  // hd
  int64_t group = 1;     // H / K of the whole model: query head g reads KV head g / group
  int64_t q_head0 = 0;   // global index of the first local query head
  int64_t kv_head0 = 0;  // global index of the first local KV head
  int64_t window = 0;    // sliding window (0 = attend to every earlier position)
  // Attention sinks of the LOCAL query heads, fp32: sinks[h] is the sink
  // logit of local head h (global head q_head0 + h), so a device passes its
  // slice of the layer's `self_attn.sinks` [H] widened to fp32. null = none.
  const float* sinks = nullptr;
};

// One sequence's keys and values in one layer's KV cache, read through its
// block table: blocks are [kv_heads, block_size, hd] rows in the pools, and
// position p of KV head h is row p % block_size of head h in block
// table[(p / block_size) % ring]. A paged cache has ring = the table's length
// (no wrap); a static one has one block of the layer's whole capacity per
// sequence (ring 1), which makes a sliding-window layer a ring buffer.
struct KvSeqView {
  const std::byte* keys = nullptr;    // pool base
  const std::byte* values = nullptr;  // pool base
  const int32_t* table = nullptr;     // [ring] block ids
  int64_t ring = 1;
  int64_t block_size = 1;
  DType dtype = DType::f32;  // fp32, bf16, fp16, or int8 rows (model/ops/quant.h)

  int64_t capacity() const { return ring * block_size; }
  // A cache of `capacity` contiguous positions per head, [kv_heads, capacity, hd].
  static KvSeqView contiguous(const void* keys, const void* values, DType dtype, int64_t capacity);
};

// softmax in place over x[n] (max-subtracted, as the reference).
void softmax(float* x, int64_t n);

// softmax over the n + 1 values x[0..n-1] and sink (max-subtracted over all
// of them), written back to x[0..n-1]; the sink's own probability is dropped,
// so the x sum to 1 - p_sink (HF modeling_gpt_oss eager_attention_forward).
void softmax_with_sink(float* x, int64_t n, float sink);

// q [heads, hd] at position `pos` (RoPE applied) attends to positions
// max(0, pos-window+1) .. pos of one sequence, whose keys/values `kv` holds;
// writes out [heads, hd].
// With dims.sinks each head's weights are softmax_with_sink's, so out shrinks
// by 1 - p_sink; without, the plain softmax's (bit for bit as before).
// scores: scratch of at least min(pos+1, capacity) floats.
void attend(const float* q, const KvSeqView& kv, const AttentionDims& dims, int64_t pos,
            float* scores, float* out);

}  // namespace meshlm

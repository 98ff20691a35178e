// The sharded layers of the Llama family (Megatron-style tensor parallelism):
// column-parallel q/k/v/gate/up, row-parallel o/down (all-reduce over mp, bias
// added once), vocab-parallel embedding, and the attention and MLP blocks.
// Each runs on every rank of an mp group with that rank's blocks and leaves
// bit-identical results on every rank of the group. docs/DESIGN.md §4.
#pragma once

#include <cstdint>

#include "arch/shard_layout.h"
#include "mesh/device_mesh.h"
#include "model/kv_cache.h"
#include "model/ops/rope.h"
#include "model/weights.h"
#include "model/workspace.h"

namespace meshlm {

// One token of a forward pass: which sequence slot it belongs to and its position.
struct TokenRow {
  int32_t token = 0;
  int32_t slot = 0;
  int64_t pos = 0;
};

// y[n, rows_l] = x[n, cols] · W_lᵀ (+ bias_l). `bias` may be null or empty.
void column_parallel_linear(const float* x, int64_t n, const ShardedTensor& w,
                            const ShardedTensor* bias, float* y);
// Same for the rows [row0, row0 + rows) of the block (KV heads read out of a
// replicated k/v_proj).
void column_parallel_linear_rows(const float* x, int64_t n, const ShardedTensor& w,
                                 const ShardedTensor* bias, int64_t row0, int64_t rows, float* y);

// y[n, out] = sum over the mp group of x_l[n, cols_l] · W_lᵀ, then + bias
// (replicated, added once after the reduction). `partial`: the block holds a
// slice of the input dimension, so the local product (computed into
// `local` [n, out]) is all-reduced over `mp` into y; otherwise y = local
// (y may equal local).
void row_parallel_linear(const float* x, int64_t n, const ShardedTensor& w,
                         const ShardedTensor* bias, bool partial, const AxisGroup& mp, float* local,
                         float* y);

// x[n, D] = table[tokens]. `sharded`: the table holds vocabulary rows
// [table.offset[0], +table.shape[0]) only; rows of other ranks' tokens are
// zero until the all-reduce over `mp`.
void embedding_lookup(const int32_t* tokens, int64_t n, const ShardedTensor& table, bool sharded,
                      const AxisGroup& mp, float* x);

// Everything a block needs besides its layer's weights.
struct BlockContext {
  const ModelConfig& config;
  const ShardLayout& layout;
  const Rope& rope;
  Workspace& ws;
  KVCache& kv;
  const AxisGroup& mp;
};

// ws.x[n, D] += o_proj(attention(RoPE(q, k), cache)) of rmsnorm(ws.x): the
// tokens' keys/values are written to the cache (rows of one sequence must
// come in increasing position order).
void attention_block(const BlockContext& ctx, int64_t layer, const LayerWeights& w,
                     const TokenRow* rows, int64_t n);

// ws.x[n, D] += down(silu(gate(h)) * up(h)), h = rmsnorm(ws.x).
void mlp_block(const BlockContext& ctx, const LayerWeights& w, int64_t n);

// ws.x[n, D] += sum over each token's top-k experts of weight_e * expert_e(h),
// h = rmsnorm(ws.x), as the family says (arch/family.h FeedForward). Each
// device runs the experts (or the slices of every expert) it holds on the
// tokens routed to them; one all-reduce over mp sums the devices' parts.
// `expert_tokens` (optional, [E]): adds the number of tokens routed to each expert.
void moe_block(const BlockContext& ctx, const LayerWeights& w, int64_t n,
               int64_t* expert_tokens = nullptr);

}  // namespace meshlm

#include "model/layers.h"

#include <cstring>

#include "collectives/collectives.h"
#include "model/ops/attention.h"
#include "model/ops/rmsnorm.h"
#include "model/ops/swiglu.h"
#include "model/ops/typed.h"

namespace meshlm {

using R = TensorRole;

namespace {

// y[n, count] += bias[first, first + count), bias in its storage dtype.
void add_bias(float* y, int64_t n, const ShardedTensor& bias, int64_t first, int64_t count) {
  with_storage_type(bias.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* b = static_cast<const T*>(bias.ptr()) + first;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < count; ++i) y[r * count + i] += to_f32(b[i]);
  });
}

bool has(const ShardedTensor* t) {
  return t && !t->empty();
}

}  // namespace

void column_parallel_linear_rows(const float* x, int64_t n, const ShardedTensor& w,
                                 const ShardedTensor* bias, int64_t row0, int64_t rows, float* y) {
  linear(x, n, w.rows_view(row0, rows), y);
  if (has(bias)) add_bias(y, n, *bias, row0, rows);
}

void column_parallel_linear(const float* x, int64_t n, const ShardedTensor& w,
                            const ShardedTensor* bias, float* y) {
  column_parallel_linear_rows(x, n, w, bias, 0, w.shape[0], y);
}

void row_parallel_linear(const float* x, int64_t n, const ShardedTensor& w,
                         const ShardedTensor* bias, bool partial, const AxisGroup& mp, float* local,
                         float* y) {
  linear(x, n, w.view(), local);
  const size_t count = static_cast<size_t>(n * w.shape[0]);
  if (partial && mp.size > 1)
    all_reduce(mp, local, y, count, DType::f32);
  else if (y != local)
    std::memcpy(y, local, count * sizeof(float));
  if (has(bias)) add_bias(y, n, *bias, 0, w.shape[0]);
}

void embedding_lookup(const int32_t* tokens, int64_t n, const ShardedTensor& table, bool sharded,
                      const AxisGroup& mp, float* x) {
  const int64_t D = table.shape[1], first = table.offset[0], rows = table.shape[0];
  // Row `local` of the table as fp32 into out.
  auto row = [&](int64_t local, float* out) {
    if (is_quantized(table.dtype)) return table.quantized().dequantize_row(local, 0, D, out);
    with_storage_type(table.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* t = static_cast<const T*>(table.ptr()) + local * D;
      for (int64_t i = 0; i < D; ++i) out[i] = to_f32(t[i]);
    });
  };
  for (int64_t r = 0; r < n; ++r) {
    const int64_t local = tokens[r] - first;
    float* xr = x + r * D;
    if (local < 0 || local >= rows) {
      MESHLM_CHECK(sharded, "token " << tokens[r] << " outside the embedding table");
      std::memset(xr, 0, static_cast<size_t>(D) * sizeof(float));
      continue;
    }
    row(local, xr);
  }
  if (sharded && mp.size > 1) all_reduce(mp, x, x, static_cast<size_t>(n * D), DType::f32);
}

void attention_block(const BlockContext& ctx, int64_t layer, const LayerWeights& w,
                     const TokenRow* rows, int64_t n) {
  const ModelConfig& c = ctx.config;
  const ShardLayout& L = ctx.layout;
  Workspace& ws = ctx.ws;
  const int64_t D = c.hidden_size, hd = c.head_dim;
  const int64_t Hl = L.q_heads.size, Kl = L.kv_heads.size;
  const int64_t kv_row0 = (L.kv_heads.begin - L.kv_weight_head0) * hd;

  rmsnorm(ws.xb, ws.x, w[R::attn_norm].ptr(), w[R::attn_norm].dtype, n, D,
          static_cast<float>(c.rms_norm_eps));
  column_parallel_linear(ws.xb, n, w[R::q], &w[R::q_bias], ws.q);  // [n, H_l*hd]
  column_parallel_linear_rows(ws.xb, n, w[R::k], &w[R::k_bias], kv_row0, Kl * hd,
                              ws.k);  // [n, K_l*hd]
  column_parallel_linear_rows(ws.xb, n, w[R::v], &w[R::v_bias], kv_row0, Kl * hd,
                              ws.v);  // [n, K_l*hd]

  AttentionDims dims;
  dims.heads = Hl;
  dims.kv_heads = Kl;
  dims.head_dim = hd;
  dims.group = c.num_heads / c.num_kv_heads;
  dims.q_head0 = L.q_heads.begin;
  dims.kv_head0 = L.kv_heads.begin;
  dims.capacity = ctx.kv.capacity(layer);
  dims.window = c.layer_is_sliding(layer) ? c.sliding_window : 0;
  for (int64_t r = 0; r < n; ++r) {
    const TokenRow& t = rows[r];
    float* q = ws.q + r * Hl * hd;
    float* k = ws.k + r * Kl * hd;
    ctx.rope.apply(q, Hl, k, Kl, t.pos);
    ctx.kv.write(layer, t.slot, t.pos, k, ws.v + r * Kl * hd);
    attend(q, ctx.kv.keys(layer, t.slot), ctx.kv.values(layer, t.slot), ctx.kv.dtype(), dims, t.pos,
           ws.scores, ws.attn + r * Hl * hd);
  }
  row_parallel_linear(ws.attn, n, w[R::o], &w[R::o_bias], L.attn_partial, ctx.mp, ws.partial,
                      ws.reduced);  // [n, D]
  add_inplace(ws.x, ws.reduced, n * D);
}

void mlp_block(const BlockContext& ctx, const LayerWeights& w, int64_t n) {
  const ModelConfig& c = ctx.config;
  Workspace& ws = ctx.ws;
  const int64_t D = c.hidden_size, Il = ctx.layout.ffn.size;
  rmsnorm(ws.xb, ws.x, w[R::mlp_norm].ptr(), w[R::mlp_norm].dtype, n, D,
          static_cast<float>(c.rms_norm_eps));
  column_parallel_linear(ws.xb, n, w[R::gate], nullptr, ws.gate);  // [n, I_l]
  column_parallel_linear(ws.xb, n, w[R::up], nullptr, ws.up);      // [n, I_l]
  silu_mul(ws.gate, ws.up, n * Il);
  row_parallel_linear(ws.gate, n, w[R::down], nullptr, ctx.layout.mlp_partial, ctx.mp, ws.partial,
                      ws.reduced);  // [n, D]
  add_inplace(ws.x, ws.reduced, n * D);
}

}  // namespace meshlm

#include "model/layers.h"

#include <cstring>

#include "collectives/collectives.h"
#include "model/ops/attention.h"
#include "model/ops/moe.h"
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

// out[i] = t[first + i] as fp32 for i < n (a vector block in its storage dtype).
void vector_f32(const ShardedTensor& t, float* out, int64_t n, int64_t first = 0) {
  with_storage_type(t.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* v = static_cast<const T*>(t.ptr()) + first;
    for (int64_t i = 0; i < n; ++i) out[i] = to_f32(v[i]);
  });
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
  dims.window = c.layer_is_sliding(layer) ? c.sliding_window : 0;
  if (!w[R::sinks].empty()) {  // this device's heads' sinks, as fp32
    vector_f32(w[R::sinks], ws.sinks, Hl);
    dims.sinks = ws.sinks;
  }
  for (int64_t r = 0; r < n; ++r) {
    const TokenRow& t = rows[r];
    float* q = ws.q + r * Hl * hd;
    float* k = ws.k + r * Kl * hd;
    ctx.rope.apply(q, Hl, k, Kl, t.pos);
    ctx.kv.write(layer, t.slot, t.pos, k, ws.v + r * Kl * hd);
    attend(q, ctx.kv.view(layer, t.slot), dims, t.pos, ws.scores, ws.attn + r * Hl * hd);
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

namespace {

// The roles of one family's experts (arch/family.h FeedForward).
struct MoeRoles {
  TensorRole router, router_bias, gate, up, down, gate_up_bias, down_bias;
};
MoeRoles moe_roles(FeedForward f) {
  if (f == FeedForward::mixtral)
    return {R::moe_router, R::router_bias,       R::moe_w1,        R::moe_w3,
            R::moe_w2,     R::experts_gate_up_b, R::experts_down_b};
  return {R::router,       R::router_bias,       R::experts_gate_up, R::experts_gate_up,
          R::experts_down, R::experts_gate_up_b, R::experts_down_b};
}

}  // namespace

void moe_block(const BlockContext& ctx, const LayerWeights& w, int64_t n, int64_t* expert_tokens) {
  const ModelConfig& c = ctx.config;
  const ShardLayout& L = ctx.layout;
  Workspace& ws = ctx.ws;
  const FeedForward kind = family_info(c.family).ffn;
  const MoeRoles roles = moe_roles(kind);
  const int64_t D = c.hidden_size, E = c.num_experts, k = c.experts_per_token;
  const int64_t Il = L.ffn.size;
  rmsnorm(ws.xb, ws.x, w[R::mlp_norm].ptr(), w[R::mlp_norm].dtype, n, D,
          static_cast<float>(c.rms_norm_eps));

  // Routing: every rank of the group computes the same choices from the
  // replicated router.
  column_parallel_linear(ws.xb, n, w[roles.router], &w[roles.router_bias], ws.router);  // [n, E]
  const RouterKind router =
      kind == FeedForward::mixtral ? RouterKind::softmax_topk : RouterKind::topk_softmax;
  for (int64_t r = 0; r < n; ++r) {
    route(ws.router + r * E, E, k, router, ws.topk_ids + r * k, ws.topk_weights + r * k);
    if (expert_tokens)
      for (int64_t j = 0; j < k; ++j) ++expert_tokens[ws.topk_ids[r * k + j]];
  }

  // This device's experts (or expert slices), each over the tokens routed
  // to it, summed into `partial` in expert order.
  const ShardedTensor& down_b = w[roles.down_bias];
  // The down bias is added with its expert when this device holds the
  // expert's whole output; under tp (every device a slice of every expert)
  // once, after the all-reduce.
  const bool bias_after = L.mlp_partial && L.experts.size == E;
  std::memset(ws.partial, 0, static_cast<size_t>(n * D) * sizeof(float));
  for (int64_t e = 0; e < L.experts.size; ++e) {
    const int32_t id = static_cast<int32_t>(L.experts.begin + e);
    int64_t m = 0;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j)
        if (ws.topk_ids[r * k + j] == id) {
          ws.expert_rows[m] = static_cast<int32_t>(r);
          ws.expert_weights[m++] = ws.topk_weights[r * k + j];
        }
    if (m == 0) continue;
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(ws.expert_in + i * D, ws.xb + ws.expert_rows[i] * D,
                  static_cast<size_t>(D) * sizeof(float));
    if (kind == FeedForward::mixtral) {
      linear(ws.expert_in, m, w[roles.gate].expert_view(e), ws.gate);  // [m, I_l]
      linear(ws.expert_in, m, w[roles.up].expert_view(e), ws.up);      // [m, I_l]
      silu_mul(ws.gate, ws.up, m * Il);
      linear(ws.gate, m, w[roles.down].expert_view(e), ws.expert_out);  // [m, D]
    } else {
      linear(ws.expert_in, m, w[roles.gate].expert_view(e), ws.gate);  // [m, 2 I_l]
      add_bias(ws.gate, m, w[roles.gate_up_bias], e * 2 * Il, 2 * Il);
      gpt_oss_glu(ws.gate, m, Il, static_cast<float>(c.swiglu_limit), ws.up);  // [m, I_l]
      linear(ws.up, m, w[roles.down].expert_view(e), ws.expert_out);           // [m, D]
      if (!bias_after) add_bias(ws.expert_out, m, down_b, e * D, D);
    }
    for (int64_t i = 0; i < m; ++i) {
      float* y = ws.partial + ws.expert_rows[i] * D;
      const float* o = ws.expert_out + i * D;
      const float g = ws.expert_weights[i];
      for (int64_t d = 0; d < D; ++d) y[d] += g * o[d];
    }
  }
  if (L.mlp_partial && ctx.mp.size > 1)
    all_reduce(ctx.mp, ws.partial, ws.reduced, static_cast<size_t>(n * D), DType::f32);
  else if (ws.reduced != ws.partial)
    std::memcpy(ws.reduced, ws.partial, static_cast<size_t>(n * D) * sizeof(float));
  if (bias_after && !down_b.empty())
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j) {
        float* y = ws.reduced + r * D;
        const float g = ws.topk_weights[r * k + j];
        with_storage_type(down_b.dtype, [&](auto tag) {
          using T = decltype(tag);
          const T* b = static_cast<const T*>(down_b.ptr()) + ws.topk_ids[r * k + j] * D;
          for (int64_t d = 0; d < D; ++d) y[d] += g * to_f32(b[d]);
        });
      }
  add_inplace(ws.x, ws.reduced, n * D);
}

}  // namespace meshlm

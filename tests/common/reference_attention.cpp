// Attention of the reference forward pass (HF LlamaAttention / MistralAttention
// / Qwen2Attention / GptOssAttention with eager_attention_forward): q, k, v
// projections (+ biases), RoPE on q and k, grouped-query heads, causal and
// sliding-window masks, gpt_oss's per-head sink logits, o_proj (+ bias).
#include <algorithm>
#include <cmath>

#include "common/reference_model.h"

namespace meshlm::test::reference {

Rows attention(Weights& w, int64_t layer, const Rows& h) {
  const ModelConfig& c = w.config();
  const int64_t D = c.hidden_size, H = c.num_heads, K = c.num_kv_heads, hd = c.head_dim;
  const int64_t T = static_cast<int64_t>(h.size());
  const float* wq = w.get(TensorRole::q, layer, {H * hd, D});
  const float* wk = w.get(TensorRole::k, layer, {K * hd, D});
  const float* wv = w.get(TensorRole::v, layer, {K * hd, D});
  const float* wo = w.get(TensorRole::o, layer, {D, H * hd});
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr, *sinks = nullptr;
  if (c.qkv_bias) {
    bq = w.get(TensorRole::q_bias, layer, {H * hd});
    bk = w.get(TensorRole::k_bias, layer, {K * hd});
    bv = w.get(TensorRole::v_bias, layer, {K * hd});
  }
  if (c.o_bias) bo = w.get(TensorRole::o_bias, layer, {D});
  if (c.family == Family::gpt_oss) sinks = w.get(TensorRole::sinks, layer, {H});

  // Projections, then RoPE at position t (the index in the sequence).
  const RopeTable rope = rope_table(c);
  Rows q, k, v;
  for (int64_t t = 0; t < T; ++t) {
    const Vec& x = h[static_cast<size_t>(t)];
    q.push_back(linear(wq, bq, H * hd, D, x));
    k.push_back(linear(wk, bk, K * hd, D, x));
    v.push_back(linear(wv, bv, K * hd, D, x));
    for (int64_t i = 0; i < H; ++i) apply_rope(rope, t, q.back().data() + i * hd);
    for (int64_t i = 0; i < K; ++i) apply_rope(rope, t, k.back().data() + i * hd);
  }

  // A query at t sees keys at positions s <= t, and s > t - window on a
  // sliding layer. Query head i reads KV head i / (H / K).
  const int64_t window = c.layer_is_sliding(layer) ? c.sliding_window : 0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  Rows out;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t first = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
    Vec ctx(static_cast<size_t>(H * hd), 0.0);
    for (int64_t i = 0; i < H; ++i) {
      const double* qi = q[static_cast<size_t>(t)].data() + i * hd;
      const int64_t kv = i / (H / K);
      Vec scores;
      for (int64_t s = first; s <= t; ++s) {
        const double* ks = k[static_cast<size_t>(s)].data() + kv * hd;
        double dot = 0;
        for (int64_t j = 0; j < hd; ++j) dot += qi[j] * ks[j];
        scores.push_back(dot * scale);
      }
      // Softmax over the scores (and the sink's logit, whose column is then dropped).
      double m = *std::max_element(scores.begin(), scores.end());
      if (sinks) m = std::max(m, static_cast<double>(sinks[i]));
      double denom = sinks ? std::exp(sinks[i] - m) : 0.0;
      for (double& sc : scores) denom += (sc = std::exp(sc - m));
      double* ci = ctx.data() + i * hd;
      for (int64_t s = first; s <= t; ++s) {
        const double p = scores[static_cast<size_t>(s - first)] / denom;
        const double* vs = v[static_cast<size_t>(s)].data() + kv * hd;
        for (int64_t j = 0; j < hd; ++j) ci[j] += p * vs[j];
      }
    }
    out.push_back(linear(wo, bo, D, H * hd, ctx));
  }
  return out;
}

}  // namespace meshlm::test::reference

// The MLP of the reference forward pass, per family:
//   llama, mistral, qwen2  down(silu(gate x) ⊙ up x)                   (HF LlamaMLP)
//   mixtral   p = softmax(router x) over all E; top-k (ties: lower id),
//             renormalised; Σ p_e · w2_e(silu(w1_e x) ⊙ w3_e x)
//             (HF MixtralSparseMoeBlock)
//   gpt_oss   top-k of router x + b (ties: lower id), softmax over those k;
//             z = W_gu[e] x + b_gu[e] with rows interleaved (2i gate, 2i+1
//             up); g = min(z_gate, 7), u = clamp(z_up, ±7);
//             Σ w_e · (W_d[e] ((u + 1) · g · σ(1.702 g)) + b_d[e])
//             (HF GptOssTopKRouter / GptOssExperts; openai/gpt-oss swiglu)
// Experts' weights are meshlm's logical stacked tensors [E, out, in]
// (arch/tensor_roles.h), whatever the files store.
#include <algorithm>
#include <cmath>

#include "common/reference_model.h"
#include "sharding/error.h"

namespace meshlm::test::reference {

namespace {

constexpr double kSwigluLimit = 7.0;  // gpt_oss swiglu_limit
constexpr double kSwigluAlpha = 1.702;

// down(silu(gate x) ⊙ up x) of one expert or the dense MLP.
Vec swiglu_mlp(const float* gate, const float* up, const float* down, int64_t I, int64_t D,
               const Vec& x) {
  Vec g = linear(gate, nullptr, I, D, x);
  const Vec u = linear(up, nullptr, I, D, x);
  for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  return linear(down, nullptr, D, I, g);
}

// The k largest entries' indices, largest first; ties go to the lower index.
std::vector<int64_t> top_k(const Vec& v, int64_t k) {
  std::vector<int64_t> idx(v.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    return v[static_cast<size_t>(a)] > v[static_cast<size_t>(b)];
  });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

Vec softmax(Vec v) {
  const double m = *std::max_element(v.begin(), v.end());
  double sum = 0;
  for (double& x : v) sum += (x = std::exp(x - m));
  for (double& x : v) x /= sum;
  return v;
}

void check_experts(const ModelConfig& c) {
  if (c.num_experts < 1 || c.experts_per_token < 1 || c.experts_per_token > c.num_experts)
    MESHLM_FAIL("reference forward: " << c.experts_per_token << " experts per token of "
                                      << c.num_experts);
}

Rows dense(Weights& w, int64_t l, const Rows& h) {
  const ModelConfig& c = w.config();
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  const float* gate = w.get(TensorRole::gate, l, {I, D});
  const float* up = w.get(TensorRole::up, l, {I, D});
  const float* down = w.get(TensorRole::down, l, {D, I});
  Rows out;
  for (const Vec& x : h) out.push_back(swiglu_mlp(gate, up, down, I, D, x));
  return out;
}

Rows mixtral(Weights& w, int64_t l, const Rows& h) {
  const ModelConfig& c = w.config();
  check_experts(c);
  const int64_t D = c.hidden_size, I = c.intermediate_size, E = c.num_experts;
  const float* router = w.get(TensorRole::moe_router, l, {E, D});
  const float* w1 = w.get(TensorRole::moe_w1, l, {E, I, D});
  const float* w3 = w.get(TensorRole::moe_w3, l, {E, I, D});
  const float* w2 = w.get(TensorRole::moe_w2, l, {E, D, I});
  Rows out;
  for (const Vec& x : h) {
    const Vec p = softmax(linear(router, nullptr, E, D, x));
    const std::vector<int64_t> chosen = top_k(p, c.experts_per_token);
    double total = 0;
    for (int64_t e : chosen) total += p[static_cast<size_t>(e)];
    Vec y(static_cast<size_t>(D), 0.0);
    for (int64_t e : chosen) {
      const Vec ye = swiglu_mlp(w1 + e * I * D, w3 + e * I * D, w2 + e * D * I, I, D, x);
      const double pe = p[static_cast<size_t>(e)] / total;
      for (int64_t i = 0; i < D; ++i) y[static_cast<size_t>(i)] += pe * ye[static_cast<size_t>(i)];
    }
    out.push_back(std::move(y));
  }
  return out;
}

Rows gpt_oss(Weights& w, int64_t l, const Rows& h) {
  const ModelConfig& c = w.config();
  check_experts(c);
  const int64_t D = c.hidden_size, I = c.intermediate_size, E = c.num_experts;
  const float* router = w.get(TensorRole::router, l, {E, D});
  const float* router_b = w.get(TensorRole::router_bias, l, {E});
  const float* gate_up = w.get(TensorRole::experts_gate_up, l, {E, 2 * I, D});
  const float* gate_up_b = w.get(TensorRole::experts_gate_up_b, l, {E, 2 * I});
  const float* down = w.get(TensorRole::experts_down, l, {E, D, I});
  const float* down_b = w.get(TensorRole::experts_down_b, l, {E, D});
  Rows out;
  for (const Vec& x : h) {
    const Vec logits = linear(router, router_b, E, D, x);
    const std::vector<int64_t> chosen = top_k(logits, c.experts_per_token);
    Vec top;
    for (int64_t e : chosen) top.push_back(logits[static_cast<size_t>(e)]);
    const Vec weight = softmax(top);
    Vec y(static_cast<size_t>(D), 0.0);
    for (size_t k = 0; k < chosen.size(); ++k) {
      const int64_t e = chosen[k];
      const Vec z = linear(gate_up + e * 2 * I * D, gate_up_b + e * 2 * I, 2 * I, D, x);
      Vec act(static_cast<size_t>(I));
      for (size_t i = 0; i < act.size(); ++i) {
        const double g = std::min(z[2 * i], kSwigluLimit);
        const double u = std::clamp(z[2 * i + 1], -kSwigluLimit, kSwigluLimit);
        act[i] = (u + 1) * g / (1 + std::exp(-kSwigluAlpha * g));
      }
      const Vec ye = linear(down + e * D * I, down_b + e * D, D, I, act);
      for (int64_t i = 0; i < D; ++i)
        y[static_cast<size_t>(i)] += weight[k] * ye[static_cast<size_t>(i)];
    }
    out.push_back(std::move(y));
  }
  return out;
}

}  // namespace

Rows feed_forward(Weights& w, int64_t layer, const Rows& h) {
  switch (w.config().family) {
    case Family::llama:
    case Family::mistral:
    case Family::qwen2:
      return dense(w, layer, h);
    case Family::mixtral:
      return mixtral(w, layer, h);
    case Family::gpt_oss:
      return gpt_oss(w, layer, h);
  }
  MESHLM_FAIL("reference forward: unknown family of model " << w.config().name);
}

}  // namespace meshlm::test::reference

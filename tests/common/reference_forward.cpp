// The reference forward pass: weights, embedding, the residual stream through
// the layers, the final norm, the classifier and the greedy loop
// (common/reference_forward.h says what it implements and from where).
#include "common/reference_forward.h"

#include <cmath>
#include <sstream>

#include "common/reference_model.h"
#include "sharding/error.h"

namespace meshlm::test {

namespace reference {

namespace {

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

}  // namespace

const float* Weights::get(TensorRole role, int64_t layer, const Shape& shape) {
  const std::string name = tensor_name(role, layer);
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    const Shape have = ckpt_.shape(name);
    if (have != shape)
      MESHLM_FAIL("reference forward: " << name << " has shape " << shape_str(have)
                                        << ", the reference needs " << shape_str(shape));
    it = tensors_.emplace(name, read_tensor_f32(ckpt_, name)).first;
  }
  return it->second.data();
}

Vec linear(const float* w, const float* b, int64_t rows, int64_t cols, const Vec& x) {
  Vec y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * cols;
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(wr[c]) * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = b ? s + b[r] : s;
  }
  return y;
}

double silu(double x) {
  return x / (1.0 + std::exp(-x));
}

namespace {

Rows rmsnorm(const Rows& x, const float* w, double eps) {
  Rows out = x;
  for (Vec& row : out) {
    double ss = 0;
    for (double v : row) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(row.size()) + eps);
    for (size_t i = 0; i < row.size(); ++i) row[i] = row[i] * inv * w[i];
  }
  return out;
}

void add_to(Rows& x, const Rows& y) {
  for (size_t t = 0; t < x.size(); ++t)
    for (size_t i = 0; i < x[t].size(); ++i) x[t][i] += y[t][i];
}

// The final-normed hidden state of every position.
Rows final_hidden(Weights& w, std::span<const int32_t> tokens) {
  const ModelConfig& c = w.config();
  const int64_t D = c.hidden_size, V = c.vocab_size;
  MESHLM_CHECK(!tokens.empty(), "reference forward of an empty sequence");
  const float* embed = w.get(TensorRole::embed, -1, {V, D});
  Rows x;
  for (const int32_t tok : tokens) {
    if (tok < 0 || tok >= V)
      MESHLM_FAIL("reference forward: token " << tok << " outside the vocabulary 0.." << V - 1);
    x.emplace_back(embed + tok * D, embed + (tok + 1) * D);
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    add_to(x, attention(w, l, rmsnorm(x, w.get(TensorRole::attn_norm, l, {D}), c.rms_norm_eps)));
    add_to(x, feed_forward(w, l, rmsnorm(x, w.get(TensorRole::mlp_norm, l, {D}), c.rms_norm_eps)));
  }
  return rmsnorm(x, w.get(TensorRole::final_norm, -1, {D}), c.rms_norm_eps);
}

Vec logits_of(Weights& w, const Vec& h) {
  const ModelConfig& c = w.config();
  const TensorRole head = c.tie_word_embeddings ? TensorRole::embed : TensorRole::lm_head;
  return linear(w.get(head, -1, {c.vocab_size, c.hidden_size}), nullptr, c.vocab_size,
                c.hidden_size, h);
}

int32_t argmax(const Vec& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;  // strict: ties keep the lower id
  return static_cast<int32_t>(best);
}

}  // namespace
}  // namespace reference

std::vector<std::vector<float>> reference_logits(const Checkpoint& ckpt,
                                                 std::span<const int32_t> tokens) {
  reference::Weights w(ckpt);
  std::vector<std::vector<float>> out;
  for (const reference::Vec& h : reference::final_hidden(w, tokens)) {
    const reference::Vec l = reference::logits_of(w, h);
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

std::vector<int32_t> reference_greedy(const Checkpoint& ckpt, std::span<const int32_t> prompt,
                                      int64_t steps) {
  reference::Weights w(ckpt);
  std::vector<int32_t> seq(prompt.begin(), prompt.end()), out;
  for (int64_t s = 0; s < steps; ++s) {
    const reference::Rows h = reference::final_hidden(w, seq);
    out.push_back(reference::argmax(reference::logits_of(w, h.back())));
    seq.push_back(out.back());
  }
  return out;
}

}  // namespace meshlm::test

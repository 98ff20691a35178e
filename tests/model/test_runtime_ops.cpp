// The runtime's op families against straightforward double-precision (or
// llama2.c-layout) references: RMSNorm, RoPE (rotate-half vs the reference's
// adjacent pairs, scaling), attention (GQA, sliding-window ring buffer,
// bf16 cache), SwiGLU, and sampling (argmax ties, distribution, top-k/top-p,
// determinism, sharded logits).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "model/ops/attention.h"
#include "model/ops/rmsnorm.h"
#include "model/ops/rope.h"
#include "model/ops/sampling.h"
#include "model/ops/swiglu.h"
#include "sharding/error.h"

namespace meshlm {
namespace {

std::vector<float> randoms(size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

ModelConfig rope_config(int64_t hd, double theta = 10000.0) {
  ModelConfig c;
  c.name = "t";
  c.head_dim = hd;
  c.rope_theta = theta;
  return c;
}

TEST(RuntimeOps, RmsNormMatchesDoubleReference) {
  const int64_t n = 3, D = 40;
  const auto x = randoms(n * D, 1), w = randoms(D, 2, 0.5f, 1.5f);
  std::vector<bf16> wb;
  for (float v : w) wb.push_back(float_to_bf16(v));
  std::vector<float> out(n * D), out_b(n * D);
  rmsnorm(out.data(), x.data(), w.data(), DType::f32, n, D, 1e-5f);
  rmsnorm(out_b.data(), x.data(), wb.data(), DType::bf16, n, D, 1e-5f);
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < D; ++j) ss += double(x[r * D + j]) * x[r * D + j];
    const double inv = 1.0 / std::sqrt(ss / D + 1e-5);
    for (int64_t j = 0; j < D; ++j) {
      EXPECT_NEAR(out[r * D + j], w[j] * x[r * D + j] * inv, 1e-5);
      EXPECT_NEAR(out_b[r * D + j], bf16_to_float(wb[j]) * x[r * D + j] * inv, 1e-5);
    }
  }
  // In place.
  std::vector<float> y = x;
  rmsnorm(y.data(), y.data(), w.data(), DType::f32, n, D, 1e-5f);
  EXPECT_EQ(y, out);
}

// The llama2.c reference: adjacent pairs (2i, 2i+1) in its row layout.
void rope_adjacent(float* v, int64_t hd, int64_t pos, float theta) {
  for (int64_t i = 0; i < hd; i += 2) {
    const float freq = 1.0f / powf(theta, static_cast<float>(i) / static_cast<float>(hd));
    const float val = static_cast<float>(pos) * freq, fcr = cosf(val), fci = sinf(val);
    const float v0 = v[i], v1 = v[i + 1];
    v[i] = v0 * fcr - v1 * fci;
    v[i + 1] = v0 * fci + v1 * fcr;
  }
}

TEST(RuntimeOps, RopeRotateHalfEqualsReferenceAdjacentPairsAfterThePermutation) {
  const int64_t hd = 16, heads = 3, kv_heads = 1;
  const Rope rope(rope_config(hd));
  for (int64_t pos : {0, 1, 7, 300}) {
    // llama2.c layout (row 2j, 2j+1) -> HF layout (rows j, hd/2 + j), per head.
    auto q_ref = randoms(heads * hd, 10 + pos), k_ref = randoms(kv_heads * hd, 20 + pos);
    std::vector<float> q(q_ref.size()), k(k_ref.size());
    auto to_hf = [&](const std::vector<float>& src, std::vector<float>& dst, int64_t h) {
      for (int64_t j = 0; j < hd / 2; ++j) {
        dst[h * hd + j] = src[h * hd + 2 * j];
        dst[h * hd + hd / 2 + j] = src[h * hd + 2 * j + 1];
      }
    };
    for (int64_t h = 0; h < heads; ++h) to_hf(q_ref, q, h);
    for (int64_t h = 0; h < kv_heads; ++h) to_hf(k_ref, k, h);
    rope.apply(q.data(), heads, k.data(), kv_heads, pos);
    for (int64_t h = 0; h < heads; ++h) rope_adjacent(q_ref.data() + h * hd, hd, pos, 10000.0f);
    rope_adjacent(k_ref.data(), hd, pos, 10000.0f);
    std::vector<float> q_back(q.size()), k_back(k.size());
    for (int64_t h = 0; h < heads; ++h) to_hf(q_ref, q_back, h);
    to_hf(k_ref, k_back, 0);
    EXPECT_EQ(q, q_back) << "position " << pos;  // bit for bit
    EXPECT_EQ(k, k_back) << "position " << pos;
  }
}

TEST(RuntimeOps, RopeScalingFollowsHuggingFace) {
  ModelConfig c = rope_config(64, 500000.0);
  const Rope plain(c);
  c.rope_scaling = {"linear", 4.0, 1.0, 4.0, 0};
  const Rope linear(c);
  c.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 64};
  const Rope llama3(c);
  int low = 0, high = 0, medium = 0;
  for (size_t j = 0; j < plain.inv_freq().size(); ++j) {
    const double f = plain.inv_freq()[j];
    EXPECT_FLOAT_EQ(linear.inv_freq()[j], static_cast<float>(f / 4.0));
    // HF _compute_llama3_parameters in double.
    const double wavelen = 2 * M_PI / f, low_wl = 64.0 / 1.0, high_wl = 64.0 / 4.0;
    double want = f;
    if (wavelen > low_wl) {
      want = f / 8.0;
      ++low;
    } else if (wavelen >= high_wl) {
      const double smooth = (64.0 / wavelen - 1.0) / (4.0 - 1.0);
      want = (1 - smooth) * f / 8.0 + smooth * f;
      ++medium;
    } else {
      ++high;
    }
    EXPECT_NEAR(llama3.inv_freq()[j], want, 1e-5 * want) << "frequency " << j;
  }
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(high, 0);
  c.rope_scaling = {"yarn", 4.0, 1.0, 4.0, 64};
  try {
    Rope bad(c);
    ADD_FAILURE() << "yarn accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'yarn'"), std::string::npos) << e.what();
  }
}

// Double-precision GQA attention over explicit positions of a [K, cap, hd] cache.
std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, const AttentionDims& d,
                                        const std::vector<int64_t>& positions) {
  std::vector<double> out(static_cast<size_t>(d.heads * d.head_dim), 0.0);
  for (int64_t h = 0; h < d.heads; ++h) {
    const int64_t kv = (d.q_head0 + h) / d.group - d.kv_head0;
    std::vector<double> s;
    for (int64_t p : positions) {
      double dot = 0;
      for (int64_t i = 0; i < d.head_dim; ++i)
        dot +=
            double(q[h * d.head_dim + i]) * k[(kv * d.capacity + p % d.capacity) * d.head_dim + i];
      s.push_back(dot / std::sqrt(double(d.head_dim)));
    }
    const double m = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (auto& x : s) sum += (x = std::exp(x - m));
    for (size_t t = 0; t < positions.size(); ++t)
      for (int64_t i = 0; i < d.head_dim; ++i)
        out[h * d.head_dim + i] +=
            s[t] / sum * v[(kv * d.capacity + positions[t] % d.capacity) * d.head_dim + i];
  }
  return out;
}

TEST(RuntimeOps, AttentionMatchesReferenceWithGqaWindowAndBf16Cache) {
  AttentionDims d;
  d.heads = 4;  // global query heads 2..5 of 8, KV heads 1..2 of 4 (group 2)
  d.kv_heads = 2;
  d.head_dim = 8;
  d.group = 2;
  d.q_head0 = 2;
  d.kv_head0 = 1;
  struct Case {
    int64_t capacity, window, pos;
  };
  for (const Case& cs : {Case{16, 0, 9}, Case{16, 0, 0}, Case{4, 4, 9}, Case{5, 3, 12}}) {
    d.capacity = cs.capacity;
    d.window = cs.window;
    const size_t cache = static_cast<size_t>(d.kv_heads * d.capacity * d.head_dim);
    const auto q = randoms(d.heads * d.head_dim, 3), k = randoms(cache, 4), v = randoms(cache, 5);
    std::vector<int64_t> positions;
    for (int64_t p = cs.window ? std::max<int64_t>(0, cs.pos - cs.window + 1) : 0; p <= cs.pos; ++p)
      positions.push_back(p);
    const auto want = attention_reference(q, k, v, d, positions);
    std::vector<float> scores(64), out(q.size());
    attend(q.data(), k.data(), v.data(), DType::f32, d, cs.pos, scores.data(), out.data());
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-5);
    // bf16 cache: the reference on the rounded values.
    std::vector<bf16> kb, vb;
    std::vector<float> kr, vr;
    for (float x : k) kr.push_back(bf16_to_float(kb.emplace_back(float_to_bf16(x))));
    for (float x : v) vr.push_back(bf16_to_float(vb.emplace_back(float_to_bf16(x))));
    const auto want_b = attention_reference(q, kr, vr, d, positions);
    attend(q.data(), kb.data(), vb.data(), DType::bf16, d, cs.pos, scores.data(), out.data());
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want_b[i], 1e-5);
  }
}

TEST(RuntimeOps, SoftmaxAndSwiglu) {
  std::vector<float> x = {1, 3, -2, 3, 0.5f};
  softmax(x.data(), 5);
  double sum = 0;
  for (float p : x) sum += p;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(x[1] / x[0], std::exp(2.0), 1e-4);
  EXPECT_EQ(x[1], x[3]);
  auto g = randoms(9, 8, -4, 4);
  const auto u = randoms(9, 9), g0 = g;
  silu_mul(g.data(), u.data(), 9);
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], g0[i] / (1 + std::exp(-double(g0[i]))) * u[i], 1e-6);
}

TEST(RuntimeOps, ArgmaxTakesTheLowestIdOnTiesAndReadsShards) {
  std::vector<float> l = {0.5f, 2, -1, 2, 1.5f, 2};
  EXPECT_EQ(argmax(LogitsView{l.data(), 6, 6, 1}), 1);
  // The same logits as 3 shards of 2 spread with stride 4 (gathered layout).
  std::vector<float> sharded = {0.5f, 2, 9, 9, -1, 2, 9, 9, 1.5f, 2};
  const LogitsView view{sharded.data(), 2, 4, 3};
  EXPECT_EQ(view.vocab(), 6);
  EXPECT_EQ(argmax(view), 1);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(view.at(i), l[static_cast<size_t>(i)]);
}

TEST(RuntimeOps, SamplingFollowsTheDistributionAndItsCuts) {
  const std::vector<float> logits = {1.0f, 0.2f, 2.0f, -1.0f, 0.7f, 1.9f, -3.0f, 0.0f};
  const int V = 8;
  auto draw = [&](SamplingParams p, uint64_t seed, int n) {
    Rng rng(seed);
    std::vector<int> counts(V);
    for (int i = 0; i < n; ++i) {
      std::vector<float> l = logits;
      ++counts[static_cast<size_t>(sample(LogitsView{l.data(), V, V, 1}, p, rng))];
    }
    return counts;
  };
  const int n = 40000;
  const float T = 0.8f;
  const auto counts = draw({T, 0, 1.0f}, 1, n);
  double z = 0;
  for (float x : logits) z += std::exp(x / T);
  for (int v = 0; v < V; ++v)
    EXPECT_NEAR(counts[static_cast<size_t>(v)] / double(n), std::exp(logits[v] / T) / z, 0.01)
        << "token " << v;
  // top-k 2: only the two most probable (ids 2 and 5).
  const auto k2 = draw({T, 2, 1.0f}, 2, 2000);
  EXPECT_EQ(k2[2] + k2[5], 2000);
  EXPECT_GT(k2[2], k2[5]);
  EXPECT_GT(k2[5], 0);
  // top-p 0.3: the most probable id alone holds more than 30% of the mass.
  const auto p3 = draw({T, 0, 0.3f}, 3, 500);
  EXPECT_EQ(p3[2], 500);
  // top-p 0.75 keeps ids 2, 5, 0 (0.39 + 0.34 = 0.73 is not enough; + 0.11 is).
  const auto p7 = draw({T, 0, 0.75f}, 4, 3000);
  EXPECT_EQ(p7[2] + p7[5] + p7[0], 3000);
  EXPECT_GT(p7[0], 0);
  // Temperature 0 is greedy; the same seed gives the same draws.
  EXPECT_EQ(draw({0.0f, 0, 1.0f}, 5, 10)[2], 10);
  EXPECT_EQ(draw({T, 0, 0.9f}, 6, 300), draw({T, 0, 0.9f}, 6, 300));
  EXPECT_NE(draw({T, 0, 0.9f}, 6, 300), draw({T, 0, 0.9f}, 7, 300));
}

TEST(RuntimeOps, SamplingShardedLogitsEqualsContiguous) {
  const auto logits = randoms(12, 12, -3, 3);
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    std::vector<float> a = logits, b(16, 99.0f);
    for (int s = 0; s < 3; ++s)
      for (int j = 0; j < 4; ++j)
        b[static_cast<size_t>(s * 5 + j)] = logits[static_cast<size_t>(s * 4 + j)];
    Rng ra(seed), rb(seed);
    const SamplingParams p{1.1f, 6, 0.8f};
    EXPECT_EQ(sample(LogitsView{a.data(), 12, 12, 1}, p, ra),
              sample(LogitsView{b.data(), 4, 5, 3}, p, rb));
  }
  // Sequence streams differ from each other.
  Rng s0 = Rng::for_sequence(1, 0), s1 = Rng::for_sequence(1, 1);
  EXPECT_NE(s0.next_u32(), s1.next_u32());
}

}  // namespace
}  // namespace meshlm

// The runtime's op families against straightforward double-precision (or
// llama2.c-layout) references: RMSNorm, RoPE (rotate-half vs the reference's
// adjacent pairs, scaling, YaRN), attention (GQA, sliding-window ring buffer,
// bf16 cache, sinks), SwiGLU, and sampling (argmax ties, distribution,
// top-k/top-p, determinism, sharded logits). MoE routing and gpt_oss's GLU:
// test_runtime_ops_moe.cpp.
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
  EXPECT_EQ(plain.attention_factor(), 1.0f);
  EXPECT_EQ(linear.attention_factor(), 1.0f);
  EXPECT_EQ(llama3.attention_factor(), 1.0f);
  c.rope_scaling = {"longrope", 4.0, 1.0, 4.0, 64};
  try {
    Rope bad(c);
    ADD_FAILURE() << "longrope accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'longrope'"), std::string::npos) << e.what();
  }
}

// YaRN against HF _compute_yarn_parameters evaluated independently in
// python3 (math module, double); re-run to regenerate the tables below:
//
//   import math
//   def yarn(hd, theta, factor, orig, bf, bs, truncate, af=None):
//       dim = lambda b: hd * math.log(orig / (b * 2 * math.pi)) / (2 * math.log(theta))
//       lo, hi = dim(bf), dim(bs)
//       if truncate: lo, hi = math.floor(lo), math.ceil(hi)
//       lo, hi = max(lo, 0), min(hi, hd - 1)
//       if lo == hi: hi += 0.001
//       out = []
//       for i in range(hd // 2):
//           p = theta ** (2 * i / hd)
//           r = min(max((i - lo) / (hi - lo), 0.0), 1.0)
//           out.append(r / (factor * p) + (1 - r) / p)
//       return out, (af if af else (0.1 * math.log(factor) + 1 if factor > 1 else 1.0))
//   f, a = yarn(64, 150000.0, 32.0, 4096, 32.0, 1.0, False)  # gpt-oss; also True
//   print(", ".join("%.10g" % x for x in f), a)
//
// gpt-oss: low = 8.0928, high = 17.398 (truncate true: 8, 18), attention
// factor 0.1 ln 32 + 1 = 1.3465735902799727.
const std::vector<double> kYarnGptOss = {1,
                                         0.6890443059,
                                         0.4747820555,
                                         0.3271458719,
                                         0.2254180002,
                                         0.1553229895,
                                         0.1070244215,
                                         0.07374456821,
                                         0.05081327482,
                                         0.03170569618,
                                         0.01933500113,
                                         0.01159204926,
                                         0.006794959490,
                                         0.003860359317,
                                         0.002093792379,
                                         0.001052602101,
                                         0.0004564839192,
                                         0.0001293187012,
                                         3.830881237e-05,
                                         2.639646903e-05,
                                         1.818833668e-05,
                                         1.253256982e-05,
                                         8.635495875e-06,
                                         5.950239261e-06,
                                         4.099978482e-06,
                                         2.825066827e-06,
                                         1.946596211e-06,
                                         1.341291035e-06,
                                         9.242089502e-07,
                                         6.368209146e-07,
                                         4.387978251e-07,
                                         3.023511428e-07};
// The same with truncate true: only the ramp (i = 9..17) differs.
const std::vector<double> kYarnGptOssTruncatedRamp = {
    0.03162075228,  0.01945096754,  0.01179219110,   0.007015713911, 0.004069554715,
    0.002277271936, 0.001206130969, 0.0005809475019, 0.0002279477958};

ModelConfig yarn_config(int64_t hd, double theta, double factor, int64_t orig, bool truncate) {
  ModelConfig c = rope_config(hd, theta);
  c.rope_scaling.type = "yarn";
  c.rope_scaling.factor = factor;
  c.rope_scaling.original_max_position_embeddings = orig;
  c.rope_scaling.truncate = truncate;
  return c;
}

TEST(RuntimeOps, YarnFrequenciesAndAttentionFactorMatchHuggingFace) {
  const Rope oss(yarn_config(64, 150000.0, 32.0, 4096, false));
  ASSERT_EQ(oss.inv_freq().size(), kYarnGptOss.size());
  for (size_t i = 0; i < kYarnGptOss.size(); ++i)
    EXPECT_NEAR(oss.inv_freq()[i], kYarnGptOss[i], 1e-6 * kYarnGptOss[i]) << "frequency " << i;
  EXPECT_NEAR(oss.attention_factor(), 1.3465735902799727, 1e-6);

  const Rope truncated(yarn_config(64, 150000.0, 32.0, 4096, true));
  for (size_t i = 0; i < kYarnGptOss.size(); ++i) {
    const double want = i >= 9 && i <= 17 ? kYarnGptOssTruncatedRamp[i - 9] : kYarnGptOss[i];
    EXPECT_NEAR(truncated.inv_freq()[i], want, 1e-6 * want) << "frequency " << i;
  }
  EXPECT_EQ(truncated.attention_factor(), oss.attention_factor());

  // The bounds clamped: low to 0 (yarn(8, 10000.0, 4.0, 64, 32.0, 1.0, True, 1.5):
  // low -3 -> 0, high 2) with an explicit attention factor; high to hd - 1
  // (yarn(8, 100.0, 4.0, 1048576, 32.0, 1.0, False): low 7.43 > high 7, so
  // every frequency is interpolated, as HF does).
  ModelConfig low = yarn_config(8, 10000.0, 4.0, 64, true);
  low.rope_scaling.attention_factor = 1.5;
  const Rope low_clamped(low);
  const std::vector<double> want_low = {1, 0.0625, 0.0025, 0.00025};
  const Rope high_clamped(yarn_config(8, 100.0, 4.0, 1048576, false));
  const std::vector<double> want_high = {0.25, 0.0790569415, 0.025, 0.00790569415};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(low_clamped.inv_freq()[i], want_low[i], 1e-6 * want_low[i]) << i;
    EXPECT_NEAR(high_clamped.inv_freq()[i], want_high[i], 1e-6 * want_high[i]) << i;
  }
  EXPECT_EQ(low_clamped.attention_factor(), 1.5f);
  EXPECT_NEAR(high_clamped.attention_factor(), 1.138629436111989, 1e-6);

  // A factor <= 1 derives no attention factor.
  EXPECT_EQ(Rope(yarn_config(8, 10000.0, 1.0, 64, true)).attention_factor(), 1.0f);
  // Parameters yarn cannot use are errors naming them.
  ModelConfig bad = yarn_config(64, 150000.0, 32.0, 0, false);
  try {
    Rope r(bad);
    ADD_FAILURE() << "original_max_position_embeddings 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("original_max_position_embeddings >= 1 (has 0)"),
              std::string::npos)
        << e.what();
  }
}

// HF's rotate-half with cos and sin scaled by the attention factor, in double
// from the python table above: q' = a (q cos + rotate_half(q) sin).
TEST(RuntimeOps, YarnRotatesAndScalesQueriesAndKeys) {
  const Rope rope(yarn_config(64, 150000.0, 32.0, 4096, false));
  const int64_t hd = 64, half = 32, heads = 2, kv_heads = 1, pos = 37;
  const double a = 1.3465735902799727;
  const auto q0 = randoms(heads * hd, 41), k0 = randoms(kv_heads * hd, 42);
  auto q = q0, k = k0;
  rope.apply(q.data(), heads, k.data(), kv_heads, pos);
  auto check = [&](const std::vector<float>& x0, const std::vector<float>& x, int64_t nh) {
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t j = 0; j < half; ++j) {
        const double angle = pos * kYarnGptOss[static_cast<size_t>(j)];
        const double c = std::cos(angle) * a, s = std::sin(angle) * a;
        const double x1 = x0[h * hd + j], x2 = x0[h * hd + j + half];
        EXPECT_NEAR(x[h * hd + j], x1 * c - x2 * s, 2e-5) << "head " << h << " pair " << j;
        EXPECT_NEAR(x[h * hd + j + half], x2 * c + x1 * s, 2e-5) << "head " << h << " pair " << j;
      }
  };
  check(q0, q, heads);
  check(k0, k, kv_heads);
  // Position 0 only scales.
  q = q0;
  k = k0;
  rope.apply(q.data(), heads, k.data(), kv_heads, 0);
  for (size_t i = 0; i < q.size(); ++i) EXPECT_FLOAT_EQ(q[i], q0[i] * static_cast<float>(a));
}

// Double-precision GQA attention over explicit positions of a [K, cap, hd]
// cache; with sinks (per local head) each joins its head's softmax
// denominator only (HF modeling_gpt_oss eager_attention_forward).
std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, const AttentionDims& d,
                                        int64_t capacity, const std::vector<int64_t>& positions,
                                        const std::vector<float>& sinks = {}) {
  std::vector<double> out(static_cast<size_t>(d.heads * d.head_dim), 0.0);
  for (int64_t h = 0; h < d.heads; ++h) {
    const int64_t kv = (d.q_head0 + h) / d.group - d.kv_head0;
    std::vector<double> s;
    for (int64_t p : positions) {
      double dot = 0;
      for (int64_t i = 0; i < d.head_dim; ++i)
        dot += double(q[h * d.head_dim + i]) * k[(kv * capacity + p % capacity) * d.head_dim + i];
      s.push_back(dot / std::sqrt(double(d.head_dim)));
    }
    double m = *std::max_element(s.begin(), s.end());
    if (!sinks.empty()) m = std::max(m, double(sinks[h]));
    double sum = 0;
    for (auto& x : s) sum += (x = std::exp(x - m));
    if (!sinks.empty()) sum += std::exp(sinks[h] - m);
    for (size_t t = 0; t < positions.size(); ++t)
      for (int64_t i = 0; i < d.head_dim; ++i)
        out[h * d.head_dim + i] +=
            s[t] / sum * v[(kv * capacity + positions[t] % capacity) * d.head_dim + i];
  }
  return out;
}

// attend over a contiguous [kv_heads, capacity, hd] cache of T values.
template <typename T>
void attend_contiguous(const std::vector<float>& q, const std::vector<T>& k,
                       const std::vector<T>& v, DType dtype, const AttentionDims& d,
                       int64_t capacity, int64_t pos, std::vector<float>& scores,
                       std::vector<float>& out) {
  attend(q.data(), KvSeqView::contiguous(k.data(), v.data(), dtype, capacity), d, pos,
         scores.data(), out.data());
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
    d.window = cs.window;
    const size_t cache = static_cast<size_t>(d.kv_heads * cs.capacity * d.head_dim);
    const auto q = randoms(d.heads * d.head_dim, 3), k = randoms(cache, 4), v = randoms(cache, 5);
    std::vector<int64_t> positions;
    for (int64_t p = cs.window ? std::max<int64_t>(0, cs.pos - cs.window + 1) : 0; p <= cs.pos; ++p)
      positions.push_back(p);
    const auto want = attention_reference(q, k, v, d, cs.capacity, positions);
    std::vector<float> scores(64), out(q.size());
    attend_contiguous(q, k, v, DType::f32, d, cs.capacity, cs.pos, scores, out);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-5);
    // bf16 cache: the reference on the rounded values.
    std::vector<bf16> kb, vb;
    std::vector<float> kr, vr;
    for (float x : k) kr.push_back(bf16_to_float(kb.emplace_back(float_to_bf16(x))));
    for (float x : v) vr.push_back(bf16_to_float(vb.emplace_back(float_to_bf16(x))));
    const auto want_b = attention_reference(q, kr, vr, d, cs.capacity, positions);
    attend_contiguous(q, kb, vb, DType::bf16, d, cs.capacity, cs.pos, scores, out);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want_b[i], 1e-5);
  }
}

// A paged cache (blocks of 4 positions scattered over a pool in a shuffled
// order, read through a block table) gives bit for bit what the same rows
// give contiguous, with and without a sliding window.
TEST(RuntimeOps, PagedAttentionEqualsContiguous) {
  AttentionDims d;
  d.heads = 4;
  d.kv_heads = 2;
  d.head_dim = 8;
  d.group = 2;
  const int64_t bs = 4, nblocks = 5, cap = bs * nblocks, hd = d.head_dim;
  const std::vector<int32_t> table = {3, 0, 6, 2, 5};  // pool of 7 blocks
  const size_t cache = static_cast<size_t>(d.kv_heads * cap * hd);
  const auto q = randoms(d.heads * hd, 21), k = randoms(cache, 22), v = randoms(cache, 23);
  std::vector<float> kp(static_cast<size_t>(7 * d.kv_heads * bs * hd)), vp(kp.size());
  for (int64_t h = 0; h < d.kv_heads; ++h)
    for (int64_t p = 0; p < cap; ++p)
      for (int64_t i = 0; i < hd; ++i) {
        const size_t from = static_cast<size_t>((h * cap + p) * hd + i);
        const size_t to = static_cast<size_t>(
            ((table[static_cast<size_t>(p / bs)] * d.kv_heads + h) * bs + p % bs) * hd + i);
        kp[to] = k[from];
        vp[to] = v[from];
      }
  const KvSeqView paged{reinterpret_cast<const std::byte*>(kp.data()),
                        reinterpret_cast<const std::byte*>(vp.data()),
                        table.data(),
                        nblocks,
                        bs,
                        DType::f32};
  std::vector<float> scores(cap), want(q.size()), got(q.size());
  for (int64_t window : {0, 6})
    for (int64_t pos : {0, 3, 4, 13, 19}) {
      d.window = window;
      attend_contiguous(q, k, v, DType::f32, d, cap, pos, scores, want);
      attend(q.data(), paged, d, pos, scores.data(), got.data());
      EXPECT_EQ(got, want) << "window " << window << " pos " << pos;
    }
}

// One head, hd 2, two positions, sink 0.5, by hand (python3):
//   import math
//   q=[1.0,0.5]; k=[[1.0,0.0],[-1.0,2.0]]; v=[[1.0,2.0],[3.0,-1.0]]; sink=0.5
//   s=[sum(a*b for a,b in zip(q,kk))/math.sqrt(2) for kk in k]+[sink]
//   m=max(s); e=[math.exp(x-m) for x in s]; p=[x/sum(e) for x in e][:-1]
//   print(['%.10g'%sum(p[t]*v[t][i] for t in range(2)) for i in range(2)])
// gives p = [0.4336510564, 0.2138197589], out = [1.075110333, 0.653482354].
TEST(RuntimeOps, AttentionSinkJoinsTheDenominatorOnly) {
  AttentionDims d;
  d.head_dim = 2;
  const std::vector<float> q = {1.0f, 0.5f};
  const std::vector<float> k = {1, 0, -1, 2, 0, 0, 0, 0}, v = {1, 2, 3, -1, 0, 0, 0, 0};
  const float sink = 0.5f;
  d.sinks = &sink;
  std::vector<float> scores(4), out(2);
  attend_contiguous(q, k, v, DType::f32, d, 4, 1, scores, out);
  EXPECT_NEAR(out[0], 1.075110333, 1e-6);
  EXPECT_NEAR(out[1], 0.653482354, 1e-6);
  std::vector<float> p = {0.70710678f, 0.0f};
  softmax_with_sink(p.data(), 2, sink);
  EXPECT_NEAR(p[0], 0.4336510564, 1e-6);
  EXPECT_NEAR(p[1], 0.2138197589, 1e-6);

  // A sink far below every score is no sink, bit for bit.
  const float none = -1e30f;
  std::vector<float> plain(2);
  d.sinks = nullptr;
  attend_contiguous(q, k, v, DType::f32, d, 4, 1, scores, plain);
  d.sinks = &none;
  attend_contiguous(q, k, v, DType::f32, d, 4, 1, scores, out);
  EXPECT_EQ(out, plain);

  // q = 0: every score is 0, so with sink s the n positions keep n / (n + e^s)
  // of the no-sink output (the plain mean of the values).
  const std::vector<float> zero = {0.0f, 0.0f};
  const float big = 10.0f;
  d.sinks = &big;
  attend_contiguous(zero, k, v, DType::f32, d, 4, 1, scores, out);
  const double shrink = 2.0 / (2.0 + std::exp(10.0));
  const double want0 = (1.0 + 3.0) / 2 * shrink, want1 = (2.0 - 1.0) / 2 * shrink;
  EXPECT_NEAR(out[0], want0, 1e-6 * want0);
  EXPECT_NEAR(out[1], want1, 1e-6 * want1);
}

// Sinks are indexed by LOCAL query head: local head h reads sinks[h] whatever
// q_head0, over a GQA slice, a sliding window and a bf16 cache.
TEST(RuntimeOps, AttentionSinksPerLocalHeadMatchReference) {
  AttentionDims d;
  d.heads = 4;  // global query heads 2..5 of 8, KV heads 1..2 of 4 (group 2)
  d.kv_heads = 2;
  d.head_dim = 8;
  d.group = 2;
  d.q_head0 = 2;
  d.kv_head0 = 1;
  const int64_t capacity = 5;
  d.window = 3;
  const int64_t pos = 12;
  const std::vector<float> sinks = {-1.0f, 0.3f, 2.5f, -20.0f};
  d.sinks = sinks.data();
  const size_t cache = static_cast<size_t>(d.kv_heads * capacity * d.head_dim);
  const auto q = randoms(d.heads * d.head_dim, 13, -2, 2), k = randoms(cache, 14),
             v = randoms(cache, 15);
  const std::vector<int64_t> positions = {10, 11, 12};
  const auto want = attention_reference(q, k, v, d, capacity, positions, sinks);
  std::vector<float> scores(8), out(q.size());
  attend_contiguous(q, k, v, DType::f32, d, capacity, pos, scores, out);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
  std::vector<bf16> kb, vb;
  std::vector<float> kr, vr;
  for (float x : k) kr.push_back(bf16_to_float(kb.emplace_back(float_to_bf16(x))));
  for (float x : v) vr.push_back(bf16_to_float(vb.emplace_back(float_to_bf16(x))));
  const auto want_b = attention_reference(q, kr, vr, d, capacity, positions, sinks);
  attend_contiguous(q, kb, vb, DType::bf16, d, capacity, pos, scores, out);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want_b[i], 1e-6) << i;
  // The sinks matter: without them the output differs.
  const auto no_sink = attention_reference(q, k, v, d, capacity, positions);
  EXPECT_GT(std::abs(no_sink[0] - want[0]), 1e-3);
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

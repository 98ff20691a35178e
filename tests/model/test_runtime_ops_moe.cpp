// MoE routing (mixtral's softmax-then-top-k, gpt_oss's top-k-then-softmax)
// and gpt_oss's clamped GLU against values computed by hand in python3:
//
//   import math
//   l=[1.0,3.0,-2.0,3.0,0.5,2.0]; m=max(l); ex=[math.exp(x-m) for x in l]; Z=sum(ex)
//   order=sorted(range(6), key=lambda i:(-l[i],i))
//   print(order, ['%.10g'%(ex[i]/Z) for i in order])    # k = E
//   e=math.exp(-1); print('%.10g %.10g'%(1/(2+e), e/(2+e)))  # k = 3: ids 1, 3, 5
//   def glu(g,u,lim=7.0):
//     g=min(g,lim); u=min(max(u,-lim),lim); return (u+1)*g/(1+math.exp(-1.702*g))
//   for g,u in [(0.5,-0.25),(9.0,2.0),(-3.0,8.0),(1.5,-10.0),(7.0,7.0)]:
//     print('%.10g'%glu(g,u))
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "model/ops/moe.h"

namespace meshlm {
namespace {

constexpr RouterKind kKinds[] = {RouterKind::softmax_topk, RouterKind::topk_softmax};

struct Routed {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

Routed route_of(const std::vector<float>& logits, int64_t k, RouterKind kind) {
  Routed r{std::vector<int32_t>(static_cast<size_t>(k)),
           std::vector<float>(static_cast<size_t>(k))};
  route(logits.data(), static_cast<int64_t>(logits.size()), k, kind, r.ids.data(),
        r.weights.data());
  return r;
}

const std::vector<float> kLogits = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.0f};

TEST(MoeOps, RouteTopThreeWithATie) {
  for (RouterKind kind : kKinds) {
    const Routed r = route_of(kLogits, 3, kind);
    EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 3, 5}));  // 1 and 3 tie: the lower id first
    EXPECT_NEAR(r.weights[0], 0.4223187983, 1e-6);
    EXPECT_EQ(r.weights[0], r.weights[1]);
    EXPECT_NEAR(r.weights[2], 0.1553624035, 1e-6);
    EXPECT_NEAR(r.weights[0] + r.weights[1] + r.weights[2], 1.0, 1e-6);
  }
}

TEST(MoeOps, RouteEveryExpertIsTheFullSoftmaxInDescendingOrder) {
  const std::vector<double> want = {0.3857968623,  0.3857968623,  0.1419267341,
                                    0.05221192763, 0.03166813491, 0.00259947881};
  for (RouterKind kind : kKinds) {
    const Routed r = route_of(kLogits, 6, kind);
    EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 3, 5, 0, 4, 2}));
    double sum = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(r.weights[i], want[i], 1e-6 * want[i]) << i;
      sum += r.weights[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(MoeOps, RouteOneExpertHasWeightOne) {
  for (RouterKind kind : kKinds) {
    const Routed r = route_of({-4.0f, 0.25f, 7.5f, 7.0f}, 1, kind);
    EXPECT_EQ(r.ids, std::vector<int32_t>{2});
    EXPECT_EQ(r.weights[0], 1.0f);
  }
}

TEST(MoeOps, RouteEqualLogitsTakeTheLowestIds) {
  const std::vector<float> flat(8, 0.75f);
  for (RouterKind kind : kKinds) {
    const Routed r = route_of(flat, 4, kind);
    EXPECT_EQ(r.ids, (std::vector<int32_t>{0, 1, 2, 3}));
    for (float w : r.weights) EXPECT_FLOAT_EQ(w, 0.25f);
  }
  // Ties below the top too: 5 beats the later 2.0s, the 2.0s keep id order.
  const Routed r = route_of({2.0f, 1.0f, 2.0f, 2.0f, -1.0f, 5.0f}, 3, RouterKind::topk_softmax);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{5, 0, 2}));
}

TEST(MoeOps, RouteSumsToOneOnRandomLogits) {
  // A fixed pseudo-random spread over 32 experts (gpt-oss: 4 of 32).
  std::vector<float> logits(32);
  uint32_t x = 12345;
  for (float& l : logits) {
    x = x * 1664525u + 1013904223u;
    l = static_cast<float>(x >> 8) / 16777216.0f * 12.0f - 6.0f;
  }
  for (RouterKind kind : kKinds)
    for (int64_t k : {1, 2, 4, 8, 32}) {
      const Routed r = route_of(logits, k, kind);
      double sum = 0;
      for (int64_t i = 0; i < k; ++i) {
        sum += r.weights[i];
        if (i > 0) {
          EXPECT_GE(logits[r.ids[i - 1]], logits[r.ids[i]]);
          EXPECT_GE(r.weights[i - 1], r.weights[i]);
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-6) << "k " << k;
      // Nothing left out beats the last one chosen.
      for (int32_t e = 0; e < 32; ++e) {
        bool chosen = false;
        for (int32_t id : r.ids) chosen |= id == e;
        if (!chosen) {
          EXPECT_LE(logits[e], logits[r.ids.back()]) << "expert " << e;
        }
      }
    }
}

TEST(MoeOps, RouteNanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {nan, 1.0f, -inf, 2.0f};
  const Routed top = route_of(logits, 2, RouterKind::topk_softmax);
  EXPECT_EQ(top.ids, (std::vector<int32_t>{3, 1}));
  EXPECT_FALSE(std::isnan(top.weights[0]));
  // -inf ranks above NaN; every id is distinct.
  EXPECT_EQ(route_of(logits, 4, RouterKind::topk_softmax).ids, (std::vector<int32_t>{3, 1, 2, 0}));
  // softmax over all E: a NaN anywhere makes every weight NaN (as HF).
  const Routed all = route_of(logits, 2, RouterKind::softmax_topk);
  EXPECT_EQ(all.ids, (std::vector<int32_t>{3, 1}));
  EXPECT_TRUE(std::isnan(all.weights[0]) && std::isnan(all.weights[1]));
}

TEST(MoeOps, GptOssGluClampsAndReadsInterleavedGateUp) {
  // Two tokens of inter 3, (gate, up) pairs: (0.5, -0.25), (9, 2) [gate
  // clamped to 7], (-3, 8) [up clamped to 7]; (1.5, -10) [up clamped to -7],
  // (7, 7), (0, 3).
  const std::vector<float> z = {0.5f, -0.25f, 9.0f, 2.0f, -3.0f, 8.0f,
                                1.5f, -10.0f, 7.0f, 7.0f, 0.0f,  3.0f};
  const std::vector<double> want = {0.2627913275, 20.99985938, -0.1445704777,
                                    -8.349973191, 55.99962503, 0.0};
  std::vector<float> h(6, -99.0f);
  gpt_oss_glu(z.data(), 2, 3, 7.0f, h.data());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(h[i], want[i], 1e-6 * std::max(1.0, std::abs(want[i]))) << i;
  // Interleave: gate is the even element; swapping the pair changes the result.
  const std::vector<float> swapped = {-0.25f, 0.5f};
  float one = 0;
  gpt_oss_glu(swapped.data(), 1, 1, 7.0f, &one);
  EXPECT_NEAR(one, (0.5 + 1) * -0.25 / (1 + std::exp(1.702 * 0.25)), 1e-7);
  EXPECT_NE(one, h[0]);
  // At and beyond the limits the output no longer moves: gate above 7 (up at
  // 7), up above 7 and below -7.
  const std::vector<float> at = {7.0f, 7.0f, 100.0f, 7.0f, 7.0f, 1e6f, 7.0f, -7.0f, 7.0f, -1e9f};
  std::vector<float> ha(5);
  gpt_oss_glu(at.data(), 1, 5, 7.0f, ha.data());
  EXPECT_EQ(ha[1], ha[0]);
  EXPECT_EQ(ha[2], ha[0]);
  EXPECT_EQ(ha[4], ha[3]);
  EXPECT_NEAR(ha[3], -6.0 * 7.0 / (1 + std::exp(-1.702 * 7.0)), 1e-5);
  // No limit: INFINITY leaves both unclamped.
  const std::vector<float> wide = {9.0f, 2.0f};
  gpt_oss_glu(wide.data(), 1, 1, std::numeric_limits<float>::infinity(), &one);
  EXPECT_NEAR(one, 3.0 * 9.0 / (1 + std::exp(-1.702 * 9.0)), 1e-5);
}

}  // namespace
}  // namespace meshlm

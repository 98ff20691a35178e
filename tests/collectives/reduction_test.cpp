// all_reduce and reduce_scatter under mpirun (1-4 ranks): exact sums for odd
// counts, every layout and backend, bit-identical results across the group,
// accuracy on real-valued inputs, and bf16 reduced with fp32 accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "collective_test_util.h"
#include "collectives/collectives.h"

namespace meshlm::testing {
namespace {

constexpr float kSentinel = -1000.0f;  // exact in bf16, outside every input range and sum
constexpr size_t kGuard = 8;           // elements after each buffer that must stay untouched

// A buffer of `n` dtype elements plus a guard, filled with the sentinel.
std::vector<char> buffer(size_t n, DType t) {
  std::vector<char> b((n + kGuard) * esize(t));
  encode(std::vector<float>(n + kGuard, kSentinel), t, b.data());
  return b;
}
size_t guard_damage(const std::vector<char>& b, size_t n, DType t) {
  const auto g = decode(b.data() + n * esize(t), t, kGuard);
  size_t bad = 0;
  for (float x : g) bad += x != kSentinel;
  return bad;
}

// Inputs of every member of the group (the reference needs them all).
std::vector<std::vector<float>> group_inputs(const TestGroup& tg, size_t n, Values kind, DType t,
                                             uint64_t seed) {
  std::vector<std::vector<float>> all;
  for (int w : tg.members) all.push_back(inputs(w, n, kind, t, seed));
  return all;
}

// Runs all_reduce on integer inputs and checks the exact result.
void check_all_reduce(const TestGroup& tg, DType t, bool in_place, CollectiveImpl impl,
                      size_t count, uint64_t seed) {
  SCOPED_TRACE(describe(tg, t, in_place, impl, count));
  const AxisGroup& g = *tg.g;
  const auto all_in = group_inputs(tg, count, Values::integers, t, seed);
  const auto& mine = all_in[static_cast<size_t>(g.rank)];
  std::vector<char> send = buffer(count, t), recv = buffer(count, t);
  encode(mine, t, in_place ? recv.data() : send.data());
  all_reduce(g, in_place ? recv.data() : send.data(), recv.data(), count, t, impl);

  const auto got = decode(recv.data(), t, count);
  size_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    double sum = 0;
    for (const auto& in : all_in) sum += in[i];
    wrong += got[i] != static_cast<float>(sum);
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(guard_damage(recv, count, t), 0u);
  if (!in_place) {
    EXPECT_EQ(decode(send.data(), t, count), mine) << "send buffer modified";
  }
  EXPECT_TRUE(identical_across_group(g, recv.data(), count * esize(t)));
}

TEST(AllReduce, ExactForOddCountsEveryLayoutAndBackend) {
  uint64_t seed = 100;
  for (const auto& tg : test_groups())
    for (DType t : kDTypes)
      for (bool in_place : {false, true})
        for (CollectiveImpl impl : kAllImpls)
          for (size_t count : odd_counts(tg.g->size))
            check_all_reduce(tg, t, in_place, impl, count, ++seed);
}

TEST(AllReduce, ExactForLargeUnevenCountsOnTheRing) {
  // Chunks above the ring's 64 Ki-element segment, not divisible by p.
  uint64_t seed = 500;
  for (const auto& tg : test_groups()) {
    const size_t count = 65536 * static_cast<size_t>(tg.g->size) + 40961;
    for (DType t : kDTypes)
      for (bool in_place : {false, true})
        for (CollectiveImpl impl : {CollectiveImpl::meshlm, CollectiveImpl::meshlm_bandwidth})
          check_all_reduce(tg, t, in_place, impl, count, ++seed);
  }
}

TEST(AllReduce, InputsVaryAcrossRanksAndElements) {
  // The generator really varies, so the exact checks above can fail.
  const auto a = inputs(0, 1001, Values::integers, DType::f32, 7);
  const auto b = inputs(1, 1001, Values::integers, DType::f32, 7);
  EXPECT_NE(a, b);
  const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
  EXPECT_EQ(*lo, -25.0f);
  EXPECT_EQ(*hi, 25.0f);
  EXPECT_EQ(inputs(0, 1001, Values::integers, DType::f32, 7), a);  // seeded: reproducible
}

TEST(AllReduce, RealValuesAccurateAndBitIdenticalAcrossRanks) {
  uint64_t seed = 900;
  for (const auto& tg : test_groups())
    for (DType t : kDTypes)
      for (CollectiveImpl impl : kAllImpls)
        for (size_t count : {size_t{3001}, 65536 * static_cast<size_t>(tg.g->size) + 3}) {
          SCOPED_TRACE(describe(tg, t, false, impl, count));
          const AxisGroup& g = *tg.g;
          const auto all_in = group_inputs(tg, count, Values::reals, t, ++seed);
          std::vector<char> send = buffer(count, t), recv = buffer(count, t);
          encode(all_in[static_cast<size_t>(g.rank)], t, send.data());
          all_reduce(g, send.data(), recv.data(), count, t, impl);
          const auto got = decode(recv.data(), t, count);
          size_t bad = 0;
          for (size_t i = 0; i < count; ++i) {
            double sum = 0, mag = 0;
            for (const auto& in : all_in) sum += in[i], mag += std::fabs(in[i]);
            // fp32 accumulation error, plus one bf16 rounding of the result (or,
            // for MPI's bf16 op, one rounding per step).
            const double steps = impl == CollectiveImpl::mpi ? g.size : 1;
            const double tol = 1e-6 * mag + (t == DType::bf16 ? steps * mag / 256 : 0);
            bad += std::fabs(got[i] - sum) > tol;
          }
          EXPECT_EQ(bad, 0u);
          // Every rank holds the same bits (our algorithms; MPI does not promise it).
          if (impl != CollectiveImpl::mpi) {
            EXPECT_TRUE(identical_across_group(g, recv.data(), count * esize(t)));
          }
        }
}

TEST(AllReduce, Bf16AccumulatesInFp32AndRoundsOnce) {
  // Element i: one rank holds +-256 * 2^k, the others +-2^k. In fp32 the sum is
  // exact and rounds once; a chain of bf16 additions starting from the large
  // value loses every small addend (256 + 1 rounds back to 256 in bf16).
  for (const auto& tg : test_groups()) {
    const AxisGroup& g = *tg.g;
    const int p = g.size;
    const size_t count = 1000;
    auto value = [&](int q, size_t i) {
      const float scale = std::ldexp(i % 2 ? -1.0f : 1.0f, static_cast<int>(i % 5));
      return (static_cast<size_t>(q) == i % static_cast<size_t>(p) ? 256.0f : 1.0f) * scale;
    };
    std::vector<bf16> mine(count);
    for (size_t i = 0; i < count; ++i) mine[i] = float_to_bf16(value(g.rank, i));
    size_t chain_wrong = 0;
    for (CollectiveImpl impl : {CollectiveImpl::meshlm, CollectiveImpl::meshlm_latency,
                                CollectiveImpl::meshlm_bandwidth}) {
      SCOPED_TRACE(describe(tg, DType::bf16, false, impl, count));
      std::vector<bf16> out(count);
      all_reduce(g, mine.data(), out.data(), count, DType::bf16, impl);
      size_t wrong = 0;
      chain_wrong = 0;
      for (size_t i = 0; i < count; ++i) {
        float exact = 0;
        for (int q = 0; q < p; ++q) exact += value(q, i);  // exact in fp32
        const float want = bf16_to_float(float_to_bf16(exact));
        wrong += bf16_to_float(out[i]) != want;
        // The naive chain: big value first, then each small one, rounding each time.
        float chain = value(static_cast<int>(i % static_cast<size_t>(p)), i);
        for (int q = 0; q < p; ++q)
          if (static_cast<size_t>(q) != i % static_cast<size_t>(p))
            chain = bf16_to_float(float_to_bf16(chain + value(q, i)));
        chain_wrong += chain != want;
      }
      EXPECT_EQ(wrong, 0u);
    }
    // With 3+ ranks the data really separates the two methods.
    if (p >= 3) {
      EXPECT_EQ(chain_wrong, count);
    }
  }
}

// reduce_scatter on integer inputs: rank r gets the exact sum of block r.
void check_reduce_scatter(const TestGroup& tg, DType t, bool in_place, CollectiveImpl impl,
                          size_t count, uint64_t seed) {
  SCOPED_TRACE(describe(tg, t, in_place, impl, count));
  const AxisGroup& g = *tg.g;
  const size_t p = static_cast<size_t>(g.size), r = static_cast<size_t>(g.rank);
  const auto all_in = group_inputs(tg, p * count, Values::integers, t, seed);
  std::vector<char> send = buffer(p * count, t), recv = buffer(in_place ? p * count : count, t);
  encode(all_in[r], t, in_place ? recv.data() : send.data());
  reduce_scatter(g, in_place ? recv.data() : send.data(), recv.data(), count, t, impl);

  const auto got = decode(recv.data(), t, count);
  size_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    double sum = 0;
    for (const auto& in : all_in) sum += in[r * count + i];
    wrong += got[i] != static_cast<float>(sum);
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(guard_damage(recv, in_place ? p * count : count, t), 0u);
  if (!in_place) {
    EXPECT_EQ(decode(send.data(), t, p * count), all_in[r]) << "send modified";
  }
}

TEST(ReduceScatter, ExactForOddCountsEveryLayoutAndBackend) {
  uint64_t seed = 2000;
  for (const auto& tg : test_groups())
    for (DType t : kDTypes)
      for (bool in_place : {false, true})
        for (CollectiveImpl impl : kAllImpls) {
          for (size_t count : odd_counts(tg.g->size))
            check_reduce_scatter(tg, t, in_place, impl, count, ++seed);
          if (impl == CollectiveImpl::meshlm)  // blocks above the ring's segment
            check_reduce_scatter(tg, t, in_place, impl, 70001, ++seed);
        }
}

TEST(ReduceScatter, Bf16RoundsOnce) {
  // Block r of every rank: rank r holds 256, the others 1; sum = 256 + p - 1.
  for (const auto& tg : test_groups()) {
    const AxisGroup& g = *tg.g;
    const size_t p = static_cast<size_t>(g.size), count = 33;
    std::vector<bf16> in(p * count), out(count);
    for (size_t b = 0; b < p; ++b)
      for (size_t i = 0; i < count; ++i)
        in[b * count + i] = float_to_bf16(b == static_cast<size_t>(g.rank) ? 256.0f : 1.0f);
    reduce_scatter(g, in.data(), out.data(), count, DType::bf16);
    const float want = bf16_to_float(float_to_bf16(256.0f + static_cast<float>(p - 1)));
    for (size_t i = 0; i < count; ++i) EXPECT_EQ(bf16_to_float(out[i]), want) << "element " << i;
  }
}

TEST(SubAxis, GroupsOfA2x2MeshHoldTheRightRanks) {
  const int r = world_rank();
  for (const auto& tg : test_groups()) {
    if (tg.label == "2x2 over dp") {
      EXPECT_EQ(tg.members, (std::vector<int>{r % 2, r % 2 + 2}));
    }
    if (tg.label == "2x2 over mp") {
      EXPECT_EQ(tg.members, (std::vector<int>{r - r % 2, r - r % 2 + 1}));
    }
    // A sum of world ranks over the group names exactly its members.
    float mine = static_cast<float>(1 << r), sum = 0;
    all_reduce(*tg.g, &mine, &sum, 1, DType::f32);
    float want = 0;
    for (int w : tg.members) want += static_cast<float>(1 << w);
    EXPECT_EQ(sum, want) << tg.label;
  }
  if (world_size() == 4) {
    int labelled = 0;
    for (const auto& tg : test_groups()) labelled += tg.label.rfind("2x2", 0) == 0;
    EXPECT_EQ(labelled, 2);
  }
}

}  // namespace
}  // namespace meshlm::testing

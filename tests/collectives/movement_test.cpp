// all_gather, broadcast and all_to_all under mpirun (1-4 ranks): every
// layout (out-of-place and the in-place ones), both float dtypes and every
// whole-byte type (fp16, int8, int32, uint8, records), odd counts, every root, every backend;
// results identical across ranks.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "collective_test_util.h"
#include "collectives/collectives.h"

namespace meshlm::testing {
namespace {

constexpr float kSentinel = -1000.0f;  // exact in bf16, outside every input range and sum

// Three all_gather layouts: separate buffers, send == recv (own block first),
// send == recv + rank * count (MPI's in-place layout).
enum class GatherLayout { out_of_place, in_place_start, in_place_mpi };

TEST(AllGather, ConcatenatesInGroupOrderForEveryLayout) {
  uint64_t seed = 3000;
  for (const auto& tg : test_groups())
    for (DType t : kDTypes)
      for (GatherLayout layout :
           {GatherLayout::out_of_place, GatherLayout::in_place_start, GatherLayout::in_place_mpi})
        for (CollectiveImpl impl : kAllImpls)
          for (size_t count : odd_counts(tg.g->size)) {
            SCOPED_TRACE(describe(tg, t, layout != GatherLayout::out_of_place, impl, count) +
                         " layout " + std::to_string(static_cast<int>(layout)));
            const AxisGroup& g = *tg.g;
            const size_t p = static_cast<size_t>(g.size), es = esize(t);
            ++seed;
            std::vector<std::vector<float>> all_in;
            for (int w : tg.members) all_in.push_back(inputs(w, count, Values::reals, t, seed));
            const auto& mine = all_in[static_cast<size_t>(g.rank)];
            std::vector<char> send(count * es), recv((p * count + 1) * es);
            encode(std::vector<float>(p * count + 1, kSentinel), t, recv.data());
            char* own = recv.data() + static_cast<size_t>(g.rank) * count * es;
            const void* src = send.data();
            if (layout == GatherLayout::out_of_place) encode(mine, t, send.data());
            if (layout == GatherLayout::in_place_start)
              encode(mine, t, recv.data()), src = recv.data();
            if (layout == GatherLayout::in_place_mpi) encode(mine, t, own), src = own;
            all_gather(g, src, recv.data(), count, t, impl);

            std::vector<float> want;
            for (const auto& in : all_in) want.insert(want.end(), in.begin(), in.end());
            want.push_back(kSentinel);  // the guard element
            EXPECT_EQ(decode(recv.data(), t, p * count + 1), want);
            EXPECT_TRUE(identical_across_group(g, recv.data(), p * count * es));
          }
}

// A byte pattern that differs per rank and per byte.
unsigned char pattern(size_t rank, size_t i) {
  return static_cast<unsigned char>(rank * 31 + i * 7 + 1);
}

TEST(Movement, EveryWholeByteTypeOnEveryBackend) {
  for (const auto& tg : test_groups()) {
    const AxisGroup& g = *tg.g;
    const size_t p = static_cast<size_t>(g.size), r = static_cast<size_t>(g.rank), count = 13;
    for (DType t : {DType::f16, DType::i8, DType::i32, DType::u8})
      for (CollectiveImpl impl : kAllImpls) {
        SCOPED_TRACE(describe(tg, t, false, impl, count));
        const size_t es = esize(t), block = count * es;
        std::vector<unsigned char> send(p * block), recv(p * block);
        for (size_t i = 0; i < send.size(); ++i) send[i] = pattern(r, i);
        all_gather(g, send.data(), recv.data(), count, t, impl);
        for (size_t q = 0; q < p; ++q)
          for (size_t i = 0; i < block; ++i) ASSERT_EQ(recv[q * block + i], pattern(q, i));
        all_to_all(g, send.data(), recv.data(), count, t, impl);
        for (size_t q = 0; q < p; ++q)  // block q came from rank q: its block r
          for (size_t i = 0; i < block; ++i)
            ASSERT_EQ(recv[q * block + i], pattern(q, r * block + i));
        const int root = static_cast<int>(p - 1);
        broadcast(g, send.data(), count, t, root, impl);
        for (size_t i = 0; i < block; ++i) ASSERT_EQ(send[i], pattern(p - 1, i));
      }
  }
}

TEST(AllGather, TypedSpansOfFloatsIdsAndRecords) {
  for (const auto& tg : test_groups()) {
    const AxisGroup& g = *tg.g;
    const size_t p = static_cast<size_t>(g.size);
    std::vector<float> mine(5, static_cast<float>(g.rank) + 0.5f), all(5 * p);
    all_gather<float>(g, mine, all);
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<float>(i / 5) + 0.5f);
    std::vector<float> wrong_size(5 * p + 1);
    EXPECT_THROW(all_gather<float>(g, mine, wrong_size), Error);

    // Ids above 2^24 (not exact as floats) travel as int32.
    const std::vector<int32_t> ids = {(1 << 30) + g.rank, -7 - g.rank};
    std::vector<int32_t> all_ids(2 * p);
    all_gather<int32_t>(g, ids, all_ids);
    for (size_t q = 0; q < p; ++q) {
      EXPECT_EQ(all_ids[2 * q], (1 << 30) + static_cast<int32_t>(q));
      EXPECT_EQ(all_ids[2 * q + 1], -7 - static_cast<int32_t>(q));
    }

    // Records travel as their bytes.
    struct Record {
      double seconds;
      int64_t count;
      int32_t id;
    };
    const std::vector<Record> rec = {{0.25 * g.rank, int64_t{1} << 40, g.rank}};
    std::vector<Record> all_rec(p);
    all_gather<Record>(g, rec, all_rec);
    for (size_t q = 0; q < p; ++q) {
      EXPECT_EQ(all_rec[q].seconds, 0.25 * static_cast<double>(q));
      EXPECT_EQ(all_rec[q].count, int64_t{1} << 40);
      EXPECT_EQ(all_rec[q].id, static_cast<int32_t>(q));
    }
  }
}

TEST(Broadcast, EveryRootEveryBackendOddAndLargeCounts) {
  uint64_t seed = 4000;
  for (const auto& tg : test_groups())
    for (DType t : kDTypes)
      for (CollectiveImpl impl : kAllImpls) {
        std::vector<size_t> counts = odd_counts(tg.g->size);
        counts.push_back(200003);  // several pipelined-chain segments
        for (size_t count : counts)
          for (int root = 0; root < tg.g->size; ++root) {
            SCOPED_TRACE(describe(tg, t, true, impl, count) + ", root " + std::to_string(root));
            const AxisGroup& g = *tg.g;
            const size_t es = esize(t);
            ++seed;
            const auto root_in =
                inputs(tg.members[static_cast<size_t>(root)], count, Values::reals, t, seed);
            // Non-roots start with their own different data, which must be replaced.
            const auto start = g.rank == root
                                   ? root_in
                                   : inputs(world_rank() + 100, count, Values::reals, t, seed);
            std::vector<char> buf((count + 1) * es);
            encode(start, t, buf.data());
            encode({kSentinel}, t, buf.data() + count * es);
            broadcast(g, buf.data(), count, t, root, impl);
            EXPECT_TRUE(decode(buf.data(), t, count) == root_in);
            EXPECT_EQ(decode(buf.data() + count * es, t, 1)[0], kSentinel);
          }
      }
}

TEST(AllToAll, BlockJGoesToRankJForEveryLayout) {
  uint64_t seed = 5000;
  for (const auto& tg : test_groups())
    for (DType t : kDTypes)
      for (bool in_place : {false, true})
        for (CollectiveImpl impl : kAllImpls)
          for (size_t count : odd_counts(tg.g->size)) {
            SCOPED_TRACE(describe(tg, t, in_place, impl, count));
            const AxisGroup& g = *tg.g;
            const size_t p = static_cast<size_t>(g.size), r = static_cast<size_t>(g.rank);
            const size_t es = esize(t);
            ++seed;
            std::vector<std::vector<float>> all_in;
            for (int w : tg.members)
              all_in.push_back(inputs(w, p * count, Values::integers, t, seed));
            std::vector<char> send(p * count * es), recv((p * count + 1) * es);
            encode(std::vector<float>(p * count + 1, kSentinel), t, recv.data());
            encode(all_in[r], t, in_place ? recv.data() : send.data());
            all_to_all(g, in_place ? recv.data() : send.data(), recv.data(), count, t, impl);
            std::vector<float> want;
            for (size_t q = 0; q < p; ++q)
              want.insert(want.end(), all_in[q].begin() + static_cast<std::ptrdiff_t>(r * count),
                          all_in[q].begin() + static_cast<std::ptrdiff_t>((r + 1) * count));
            want.push_back(kSentinel);
            EXPECT_EQ(decode(recv.data(), t, p * count + 1), want);
            if (!in_place) {
              EXPECT_EQ(decode(send.data(), t, p * count), all_in[r]);
            }
          }
}

}  // namespace
}  // namespace meshlm::testing

// Argument errors (the same bad call on every rank throws a clear
// meshlm::Error before any communication, so nothing hangs) and the
// per-collective statistics.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "collective_test_util.h"
#include "collectives/collectives.h"
#include "collectives/stats.h"
#include "common/test_util.h"

namespace meshlm::testing {
namespace {

using test::expect_error;

TEST(CollectiveErrors, NullBuffersWithCountAreRejected) {
  const AxisGroup& g = *test_groups().front().g;
  std::vector<float> buf(64 * static_cast<size_t>(g.size));
  expect_error([&] { all_reduce(g, nullptr, buf.data(), 5, DType::f32); },
               {"all_reduce", "send buffer is null", "count is 5", "axis '" + g.name + "'"});
  expect_error([&] { all_reduce(g, buf.data(), nullptr, 5, DType::f32); }, {"recv buffer is null"});
  expect_error([&] { all_gather(g, nullptr, buf.data(), 3, DType::bf16); }, {"all_gather", "null"});
  expect_error([&] { reduce_scatter(g, buf.data(), nullptr, 3, DType::f32); },
               {"reduce_scatter", "null"});
  expect_error([&] { broadcast(g, nullptr, 3, DType::f32, 0); }, {"broadcast", "null"});
  expect_error([&] { all_to_all(g, nullptr, buf.data(), 3, DType::f32); }, {"all_to_all", "null"});
  // count 0 with null buffers is a no-op, not an error.
  all_reduce(g, nullptr, nullptr, 0, DType::f32);
  all_gather(g, nullptr, nullptr, 0, DType::bf16);
  broadcast(g, nullptr, 0, DType::f32, 0);
}

TEST(CollectiveErrors, RootOutOfRangeNamesRootAndGroupSize) {
  for (const auto& tg : test_groups()) {
    const AxisGroup& g = *tg.g;
    float x = 1;
    for (int root : {-1, g.size, g.size + 5})
      expect_error([&] { broadcast(g, &x, 1, DType::f32, root); },
                   {"root " + std::to_string(root), "size " + std::to_string(g.size),
                    "0.." + std::to_string(g.size - 1)});
  }
}

TEST(CollectiveErrors, UnsupportedDtypes) {
  const AxisGroup& g = *test_groups().front().g;
  std::vector<int8_t> buf(16 * static_cast<size_t>(g.size));
  expect_error([&] { all_reduce(g, buf.data(), buf.data(), 4, DType::i8); },
               {"int8", "fp32 or bf16"});
  expect_error([&] { reduce_scatter(g, buf.data(), buf.data(), 2, DType::f16); },
               {"fp16", "fp32 or bf16"});
  expect_error([&] { all_gather(g, buf.data(), buf.data(), 2, DType::i4); }, {"int4"});
}

TEST(CollectiveErrors, OverflowingAndNegativeCountsAreRejected) {
  const AxisGroup& g = *test_groups().front().g;
  float x[4] = {};
  const size_t negative = static_cast<size_t>(int64_t{-3});
  expect_error([&] { all_reduce(g, x, x, negative, DType::f32); },
               {"count " + std::to_string(negative), "too large"});
  expect_error([&] { all_gather(g, x, x, SIZE_MAX / 2, DType::bf16); }, {"too large"});
  expect_error([&] { all_to_all(g, x, x, SIZE_MAX / 4, DType::f32); }, {"too large"});
  expect_error([&] { broadcast(g, x, SIZE_MAX, DType::f32, 0); }, {"too large"});
}

TEST(CollectiveErrors, PartialOverlapIsRejected) {
  const AxisGroup& g = *test_groups().front().g;
  std::vector<float> buf(64 * static_cast<size_t>(g.size));
  expect_error([&] { all_reduce(g, buf.data(), buf.data() + 1, 8, DType::f32); }, {"overlap"});
  expect_error([&] { all_to_all(g, buf.data() + 1, buf.data(), 2, DType::f32); }, {"overlap"});
  if (g.size > 1)  // recv + 1 element is neither in-place layout
    expect_error([&] { all_gather(g, buf.data() + 1, buf.data(), 4, DType::f32); }, {"overlap"});
}

TEST(CollectiveErrors, GroupWithoutCommunicator) {
  AxisGroup none;
  none.name = "mp";
  float x = 0;
  expect_error([&] { all_reduce(none, &x, &x, 1, DType::f32); }, {"no communicator", "'mp'"});
}

TEST(CollectiveStats, RecordsCallsBytesAndSecondsPerOp) {
  const AxisGroup& g = *test_groups().front().g;
  const uint64_t p = static_cast<uint64_t>(g.size);
  auto& stats = collective_stats();
  stats.reset();
  std::vector<float> a(10 * p), b(10 * p);
  std::vector<bf16> h(10 * p);
  for (int i = 0; i < 3; ++i) all_reduce(g, a.data(), b.data(), 10, DType::f32);
  all_reduce(g, h.data(), h.data(), 10, DType::bf16);
  all_reduce(g, a.data(), b.data(), 10, DType::f32, CollectiveImpl::mpi);
  reduce_scatter(g, a.data(), b.data(), 10, DType::f32);
  all_gather(g, a.data(), b.data(), 10, DType::f32);
  broadcast(g, a.data(), 7, DType::f32, 0);
  all_to_all(g, a.data(), b.data(), 10, DType::f32);
  all_reduce(g, a.data(), b.data(), 0, DType::f32);  // empty calls count too

  const auto& c = stats.counters();
  ASSERT_EQ(c.count("all_reduce"), 1u);
  EXPECT_EQ(c.at("all_reduce").calls, 5u);
  EXPECT_EQ(c.at("all_reduce").bytes, 3 * 40u + 20u);
  EXPECT_GT(c.at("all_reduce").seconds, 0.0);
  EXPECT_EQ(c.at("all_reduce[mpi]").calls, 1u);
  EXPECT_EQ(c.at("all_reduce[mpi]").bytes, 40u);
  EXPECT_EQ(c.at("reduce_scatter").bytes, p * 40);  // this rank's whole input
  EXPECT_EQ(c.at("all_gather").bytes, 40u);
  EXPECT_EQ(c.at("broadcast").bytes, 28u);
  EXPECT_EQ(c.at("all_to_all").bytes, p * 40);
  EXPECT_EQ(stats.total_calls(), 10u);
  EXPECT_EQ(stats.total_bytes(), 140u + 40u + p * 40 + 40u + 28u + p * 40);
  EXPECT_GE(stats.total_seconds(), c.at("all_reduce").seconds);
  EXPECT_NE(stats.summary().find("all_reduce: 5 calls"), std::string::npos) << stats.summary();
  // Failed calls (bad arguments) are not counted.
  EXPECT_THROW(broadcast(g, a.data(), 1, DType::f32, g.size), Error);
  EXPECT_EQ(stats.total_calls(), 10u);
  stats.reset();
  EXPECT_EQ(stats.total_calls(), 0u);
  EXPECT_EQ(stats.summary(), "");
}

}  // namespace
}  // namespace meshlm::testing

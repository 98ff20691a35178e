// mesh-bench collectives' building blocks (no MPI needed): message-size
// rounding, nccl-tests factors, the seeded exact inputs, the serial
// reference and the wrong-element count that --check relies on.
#include "bench/collective_case.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "bench/bench_util.h"

namespace meshlm::bench {
namespace {

TEST(BenchCase, ShapesRoundToWholeElementsAndRanks) {
  CaseShape s = case_shape(Op::all_reduce, 1001, DType::f32, 3);
  EXPECT_EQ(s.count, 250u);  // 1001 B -> 250 fp32 elements, split unevenly by the ring
  EXPECT_EQ(s.bytes, 1000u);
  EXPECT_EQ(s.send_elems, 250u);
  s = case_shape(Op::all_gather, 1001, DType::f32, 3);
  EXPECT_EQ(s.count, 83u);  // per rank; the gathered output is 3 x 83
  EXPECT_EQ(s.recv_elems, 249u);
  EXPECT_EQ(s.bytes, 996u);
  s = case_shape(Op::reduce_scatter, 4, DType::bf16, 3);
  EXPECT_EQ(s.count, 1u);  // at least one element per rank
  EXPECT_EQ(s.send_elems, 3u);
  EXPECT_EQ(s.recv_elems, 1u);
  EXPECT_EQ(s.bytes, 6u);
  s = case_shape(Op::broadcast, 1, DType::f32, 2);
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.send_elems, 0u);
  s = case_shape(Op::all_to_all, 1 << 20, DType::bf16, 4);
  EXPECT_EQ(s.count, 131072u);
  EXPECT_EQ(s.send_elems, s.recv_elems);
  EXPECT_EQ(s.bytes, 1u << 20);
}

TEST(BenchCase, NcclTestsBusBandwidthFactors) {
  EXPECT_DOUBLE_EQ(busbw_factor(Op::all_reduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(busbw_factor(Op::all_reduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(busbw_factor(Op::all_gather, 4), 0.75);
  EXPECT_DOUBLE_EQ(busbw_factor(Op::reduce_scatter, 3), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(busbw_factor(Op::all_to_all, 2), 0.5);
  EXPECT_DOUBLE_EQ(busbw_factor(Op::broadcast, 4), 1.0);
  EXPECT_EQ(parse_ops("all").size(), 5u);
  EXPECT_EQ(parse_ops("reduce_scatter"), std::vector<Op>{Op::reduce_scatter});
  EXPECT_THROW(parse_ops("allreduce"), Error);
}

TEST(BenchCase, InputsAreSeededVariedAndSmallIntegers) {
  const InputGen gen{42, input_range(4)};
  EXPECT_EQ(gen.range, 25);
  std::set<float> seen;
  int differ_across_ranks = 0;
  for (size_t i = 0; i < 2000; ++i) {
    const float v = gen.value(0, i);
    EXPECT_EQ(v, static_cast<float>(static_cast<int>(v)));
    EXPECT_LE(std::abs(v), 25.0f);
    seen.insert(v);
    differ_across_ranks += v != gen.value(1, i);
    EXPECT_EQ(v, (InputGen{42, 25}.value(0, i)));  // reproducible
  }
  EXPECT_EQ(seen.size(), 51u);  // every value of [-25, 25] occurs
  EXPECT_GT(differ_across_ranks, 1800);
  int differ_across_seeds = 0;
  for (size_t i = 0; i < 100; ++i)
    differ_across_seeds += gen.value(0, i) != InputGen{43, 25}.value(0, i);
  EXPECT_GT(differ_across_seeds, 80);
  EXPECT_EQ(input_range(1), 100);
  EXPECT_EQ(input_range(300), 1);
}

TEST(BenchCase, ReferenceAndWrongCountForEveryOp) {
  const InputGen gen{7, 10};
  const std::vector<int> members = {5, 2, 9};  // world ranks of a 3-rank group
  const int r = 1;                             // this rank's place in it
  for (Op op : kAllOps) {
    SCOPED_TRACE(op_name(op));
    const CaseShape s = case_shape(op, 40, DType::f32, 3);  // 10 elements of fp32
    const auto ref = reference_output(s, gen, members, r, /*root=*/2);
    const size_t n = s.count;
    for (size_t i = 0; i < ref.size(); ++i) {
      float want = 0;
      switch (op) {
        case Op::all_reduce:
          want = gen.value(5, i) + gen.value(2, i) + gen.value(9, i);
          break;
        case Op::reduce_scatter:
          want = gen.value(5, n + i) + gen.value(2, n + i) + gen.value(9, n + i);
          break;
        case Op::broadcast:
          want = gen.value(9, i);
          break;
        case Op::all_gather:
          want = gen.value(members[i / n], i % n);
          break;
        case Op::all_to_all:
          want = gen.value(members[i / n], r * n + i % n);
          break;
      }
      ASSERT_EQ(ref[i], want) << "element " << i;
    }
    // count_wrong sees every corrupted element, in fp32 and bf16.
    std::vector<float> out = ref;
    EXPECT_EQ(count_wrong(out.data(), DType::f32, ref), 0u);
    out[0] += 1;
    out.back() = -out.back() - 0.5f;
    EXPECT_EQ(count_wrong(out.data(), DType::f32, ref), 2u);
    std::vector<bf16> h(ref.size());
    for (size_t i = 0; i < h.size(); ++i) h[i] = float_to_bf16(ref[i]);
    EXPECT_EQ(count_wrong(h.data(), DType::bf16, ref), 0u);
    h[1] = float_to_bf16(ref[1] + 2);
    EXPECT_EQ(count_wrong(h.data(), DType::bf16, ref), 1u);
  }
}

TEST(BenchUtil, MedianSizesAndMean) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median({}), 0);
  EXPECT_DOUBLE_EQ(mean({1, 2, 6}), 3);
  EXPECT_EQ(parse_size_list("4,1001,1MiB"), (std::vector<uint64_t>{4, 1001, 1048576}));
  EXPECT_THROW(parse_size_list("4,,8"), Error);
  EXPECT_THROW(parse_size_list("0"), Error);
  const auto p = powers_of_two(4, 64ull << 20);
  EXPECT_EQ(p.size(), 25u);
  EXPECT_EQ(p.front(), 4u);
  EXPECT_EQ(p.back(), 64ull << 20);
}

}  // namespace
}  // namespace meshlm::bench

// One case of `mesh-bench collectives`: which collective, its element counts
// at a requested message size, seeded inputs whose sums are exact in fp32 and
// bf16, the exact serial reference of every output element, and the call
// itself through either backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "collectives/collectives.h"

namespace meshlm::bench {

enum class Op { all_reduce, all_gather, reduce_scatter, broadcast, all_to_all };
inline constexpr Op kAllOps[] = {Op::all_reduce, Op::all_gather, Op::reduce_scatter, Op::broadcast,
                                 Op::all_to_all};
const char* op_name(Op op);
// "all_reduce", ..., or "all" (every op); throws naming the choices.
std::vector<Op> parse_ops(const std::string& text);
// nccl-tests' bus bandwidth factor (docs/DESIGN.md §7): 2(p-1)/p, (p-1)/p or 1.
double busbw_factor(Op op, int p);

// Element counts of one call. `bytes` is the message size as nccl-tests
// counts it: the vector for all_reduce/broadcast, the gathered output for
// all_gather, the input for reduce_scatter/all_to_all.
struct CaseShape {
  Op op = Op::all_reduce;
  int p = 1;               // group size
  uint64_t requested = 0;  // bytes asked for (--sizes)
  uint64_t bytes = 0;      // bytes actually moved, after rounding to whole elements
  size_t count = 0;        // the collective's count argument
  size_t send_elems = 0;   // this rank's input elements
  size_t recv_elems = 0;   // this rank's output elements
};
// Rounds `requested` down to whole elements (and to a multiple of p where the
// op's message holds p blocks), at least one element per rank.
CaseShape case_shape(Op op, uint64_t requested, DType dtype, int p);

// Input element i of world rank w: an integer in [-range, range] from a
// seeded hash, so any sum over <= 256 / range ranks is exact in fp32 and bf16.
struct InputGen {
  uint64_t seed = 1;
  int range = 1;
  float value(int world_rank, size_t i) const;
};
int input_range(int p);  // max(1, 100 / p): sums stay within +-100

// Buffers of one case on this rank. In-place cases use recv alone (with the
// input placed where collectives.h's in-place layouts expect it).
struct CaseBuffers {
  AlignedBuffer send, recv;
  const void* send_ptr(const CaseShape& s, DType dtype, int group_rank, bool in_place) const;
  void* recv_ptr() { return recv.data(); }
};
CaseBuffers make_buffers(const CaseShape& s, DType dtype, bool in_place);
// Writes this rank's seeded input (and a sentinel, 777, everywhere the
// collective must overwrite).
void fill_inputs(CaseBuffers& b, const CaseShape& s, DType dtype, const InputGen& gen,
                 int world_rank, int group_rank, int root, bool in_place);

// The exact result this rank must hold: `world_ranks` are the group's members.
std::vector<float> reference_output(const CaseShape& s, const InputGen& gen,
                                    const std::vector<int>& world_ranks, int group_rank, int root);
// Elements of `out` (dtype) that differ from `expected`.
uint64_t count_wrong(const void* out, DType dtype, const std::vector<float>& expected);

// Runs the case's collective once.
void run_case(const CaseShape& s, const AxisGroup& g, CaseBuffers& b, DType dtype, int root,
              bool in_place, CollectiveImpl impl);

}  // namespace meshlm::bench

#include "bench/collective_case.h"

#include <algorithm>
#include <cstring>

#include "sharding/error.h"
#include "sharding/hash.h"

namespace meshlm::bench {

const char* op_name(Op op) {
  switch (op) {
    case Op::all_reduce:
      return "all_reduce";
    case Op::all_gather:
      return "all_gather";
    case Op::reduce_scatter:
      return "reduce_scatter";
    case Op::broadcast:
      return "broadcast";
    case Op::all_to_all:
      return "all_to_all";
  }
  return "?";
}

std::vector<Op> parse_ops(const std::string& text) {
  if (text == "all") return {std::begin(kAllOps), std::end(kAllOps)};
  for (Op op : kAllOps)
    if (text == op_name(op)) return {op};
  MESHLM_FAIL("unknown --op '" << text
                               << "' (expected all_reduce, all_gather, reduce_scatter, broadcast, "
                                  "all_to_all or all)");
}

double busbw_factor(Op op, int p) {
  const double n = p;
  switch (op) {
    case Op::all_reduce:
      return 2.0 * (n - 1) / n;
    case Op::broadcast:
      return 1.0;
    default:
      return (n - 1) / n;
  }
}

CaseShape case_shape(Op op, uint64_t requested, DType dtype, int p) {
  const size_t es = static_cast<size_t>(dtype_bits(dtype) / 8);
  const size_t elems = std::max<size_t>(1, requested / es);
  const size_t up = static_cast<size_t>(p);
  CaseShape s;
  s.op = op;
  s.p = p;
  s.requested = requested;
  switch (op) {
    case Op::all_reduce:
    case Op::broadcast:
      s.count = elems;
      s.send_elems = op == Op::broadcast ? 0 : elems;
      s.recv_elems = elems;
      s.bytes = elems * es;
      break;
    case Op::all_gather:
    case Op::reduce_scatter:
    case Op::all_to_all:
      s.count = std::max<size_t>(1, elems / up);
      s.send_elems = op == Op::all_gather ? s.count : up * s.count;
      s.recv_elems = op == Op::reduce_scatter ? s.count : up * s.count;
      s.bytes = up * s.count * es;
      break;
  }
  return s;
}

namespace {
void store(void* buf, DType dtype, size_t i, float v) {
  if (dtype == DType::f32)
    static_cast<float*>(buf)[i] = v;
  else
    static_cast<bf16*>(buf)[i] = float_to_bf16(v);
}

float load(const void* buf, DType dtype, size_t i) {
  if (dtype == DType::f32) return static_cast<const float*>(buf)[i];
  return bf16_to_float(static_cast<const bf16*>(buf)[i]);
}

constexpr float kSentinel = 777.0f;  // outside every input range, exact in bf16
}  // namespace

float InputGen::value(int world_rank, size_t i) const {
  const uint64_t base =
      splitmix64(seed * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(world_rank));
  const uint64_t h = splitmix64(base + i);
  const uint64_t span = 2 * static_cast<uint64_t>(range) + 1;
  return static_cast<float>(static_cast<int64_t>(h % span) - range);
}

int input_range(int p) {
  return std::max(1, 100 / p);
}

const void* CaseBuffers::send_ptr(const CaseShape& s, DType dtype, int group_rank,
                                  bool in_place) const {
  if (!in_place && s.op != Op::broadcast) return send.data();
  const char* r = static_cast<const char*>(recv.data());
  if (s.op == Op::all_gather)  // MPI's in-place layout: this rank's block in place
    return r + static_cast<size_t>(group_rank) * s.count * (dtype_bits(dtype) / 8);
  return r;
}

CaseBuffers make_buffers(const CaseShape& s, DType dtype, bool in_place) {
  const size_t es = static_cast<size_t>(dtype_bits(dtype) / 8);
  CaseBuffers b;
  if (in_place || s.op == Op::broadcast) {
    b.recv = AlignedBuffer(std::max(s.send_elems, s.recv_elems) * es);
  } else {
    b.send = AlignedBuffer(s.send_elems * es);
    b.recv = AlignedBuffer(s.recv_elems * es);
  }
  return b;
}

void fill_inputs(CaseBuffers& b, const CaseShape& s, DType dtype, const InputGen& gen,
                 int world_rank, int group_rank, int root, bool in_place) {
  const size_t recv_len = b.recv.size() / (dtype_bits(dtype) / 8);
  for (size_t i = 0; i < recv_len; ++i) store(b.recv.data(), dtype, i, kSentinel);
  if (s.op == Op::broadcast) {
    if (group_rank == root)
      for (size_t i = 0; i < s.count; ++i) store(b.recv.data(), dtype, i, gen.value(world_rank, i));
    return;
  }
  void* in = const_cast<void*>(b.send_ptr(s, dtype, group_rank, in_place));
  for (size_t i = 0; i < s.send_elems; ++i) store(in, dtype, i, gen.value(world_rank, i));
}

std::vector<float> reference_output(const CaseShape& s, const InputGen& gen,
                                    const std::vector<int>& world_ranks, int group_rank, int root) {
  const size_t n = s.count, r = static_cast<size_t>(group_rank);
  const int p = s.p;
  auto sum_over_ranks = [&](size_t i) {
    double total = 0;  // small integers: exact in any order
    for (int q = 0; q < p; ++q) total += gen.value(world_ranks[q], i);
    return static_cast<float>(total);
  };
  std::vector<float> out;
  switch (s.op) {
    case Op::all_reduce:
      out.resize(n);
      for (size_t i = 0; i < n; ++i) out[i] = sum_over_ranks(i);
      break;
    case Op::reduce_scatter:
      out.resize(n);
      for (size_t i = 0; i < n; ++i) out[i] = sum_over_ranks(r * n + i);
      break;
    case Op::broadcast:
      out.resize(n);
      for (size_t i = 0; i < n; ++i) out[i] = gen.value(world_ranks[root], i);
      break;
    case Op::all_gather:
    case Op::all_to_all:
      out.resize(static_cast<size_t>(p) * n);
      for (int q = 0; q < p; ++q)
        for (size_t i = 0; i < n; ++i)
          out[q * n + i] = gen.value(world_ranks[q], (s.op == Op::all_to_all ? r * n : 0) + i);
      break;
  }
  return out;
}

uint64_t count_wrong(const void* out, DType dtype, const std::vector<float>& expected) {
  uint64_t wrong = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    if (!(load(out, dtype, i) == expected[i])) ++wrong;
  return wrong;
}

void run_case(const CaseShape& s, const AxisGroup& g, CaseBuffers& b, DType dtype, int root,
              bool in_place, CollectiveImpl impl) {
  const void* send = b.send_ptr(s, dtype, g.rank, in_place);
  void* recv = b.recv_ptr();
  switch (s.op) {
    case Op::all_reduce:
      all_reduce(g, send, recv, s.count, dtype, impl);
      break;
    case Op::all_gather:
      all_gather(g, send, recv, s.count, dtype, impl);
      break;
    case Op::reduce_scatter:
      reduce_scatter(g, send, recv, s.count, dtype, impl);
      break;
    case Op::broadcast:
      broadcast(g, recv, s.count, dtype, root, impl);
      break;
    case Op::all_to_all:
      all_to_all(g, send, recv, s.count, dtype, impl);
      break;
  }
}

}  // namespace meshlm::bench

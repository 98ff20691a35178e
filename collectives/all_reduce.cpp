// all_reduce (sum): recursive doubling for small messages, ring
// reduce-scatter + ring all-gather for large ones. Both form each element's
// sum once per rank pair / chunk in a fixed order, in fp32, so every rank ends
// with the same bits (docs/DESIGN.md §7).
#include <mpi.h>

#include <bit>
#include <cstring>

#include "collectives/collectives.h"
#include "collectives/detail.h"

namespace meshlm {
namespace {

// auto: recursive doubling while the message stays within this many bytes,
// the ring above. Measured with `mesh-bench collectives --algo latency|bandwidth`
// on 2 ranks: recursive doubling wins up to 3 KiB, the ring from 4 KiB (Open
// MPI's shared-memory eager limit is 4 KiB; larger messages pay a handshake).
constexpr size_t kRingThreshold = 3 * 1024;

// Recursive doubling with fp32 partials. Ranks beyond the largest power of
// two first hand their input to rank r - pof2 and get the result back at the
// end. At each doubling step both partners compute (lower block's partial) +
// (upper block's partial), the same operation in the same order, so they agree
// bit for bit. When no rank folds, the first exchange moves the raw input
// (half the bytes for bf16); the last step rounds once into recv.
void recursive_doubling(const AxisGroup& g, const void* send, void* recv, size_t n, DType dtype) {
  const int p = g.size, r = g.rank;
  const size_t es = static_cast<size_t>(dtype_bits(dtype) / 8);
  const MPI_Comm comm = g.comm;
  constexpr int tag = detail::kTagAllReduce;
  const int pof2 = static_cast<int>(std::bit_floor(static_cast<unsigned>(p)));
  const int rem = p - pof2;
  if (r >= pof2) {
    detail::send(send, n * es, r - pof2, comm, tag);
    detail::recv(recv, n * es, r - pof2, comm, tag);
    return;
  }
  // work: [n] fp32 partial (recv itself for fp32); tmp: [n] what the partner sent.
  float* work = dtype == DType::f32 ? static_cast<float*>(recv)
                                    : static_cast<float*>(detail::scratch(0, n * sizeof(float)));
  void* tmp = detail::scratch(1, n * sizeof(float));
  const void* cur = send;  // this rank's partial, in cur_t
  DType cur_t = dtype;
  if (r < rem) {  // fold in rank r + pof2's input
    detail::recv(tmp, n * es, r + pof2, comm, tag);
    detail::add(work, DType::f32, send, dtype, tmp, dtype, n);
    cur = work, cur_t = DType::f32;
  } else if (rem > 0) {  // partners may have folded: everyone exchanges fp32
    detail::convert(work, DType::f32, send, dtype, n);
    cur = work, cur_t = DType::f32;
  }
  for (int mask = 1; mask < pof2; mask <<= 1) {
    const int partner = r ^ mask;
    const size_t bytes = n * static_cast<size_t>(dtype_bits(cur_t) / 8);
    detail::sendrecv(cur, bytes, partner, tmp, bytes, partner, comm, tag);
    const bool last = mask * 2 >= pof2;
    void* out = last ? recv : static_cast<void*>(work);
    const DType out_t = last ? dtype : DType::f32;
    if (r < partner)
      detail::add(out, out_t, cur, cur_t, tmp, cur_t, n);
    else
      detail::add(out, out_t, tmp, cur_t, cur, cur_t, n);
    cur = work, cur_t = DType::f32;
  }
  if (r < rem) detail::send(recv, n * es, r + pof2, comm, tag);
}

}  // namespace

void all_reduce(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                CollectiveImpl impl) {
  constexpr const char* op = "all_reduce";
  const size_t es = detail::check_send_recv(op, g, send, recv, count, dtype, /*reduction=*/true, 1);
  detail::check_overlap(op, g, send, count * es, recv, count * es, recv);
  detail::StatsScope stats(op, impl, count * es);
  if (count == 0) return;

  if (impl == CollectiveImpl::mpi) {
    detail::check_mpi_count(op, g, count);
    MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, static_cast<int>(count),
                  detail::mpi_type(dtype), detail::mpi_sum_op(dtype), g.comm);
    return;
  }
  if (g.size == 1) {
    if (send != recv) std::memcpy(recv, send, count * es);
    return;
  }
  const bool latency = impl == CollectiveImpl::meshlm_latency ||
                       (impl == CollectiveImpl::meshlm &&
                        (count * es <= kRingThreshold || count < static_cast<size_t>(g.size)));
  if (latency) {
    recursive_doubling(g, send, recv, count, dtype);
    return;
  }
  const detail::Chunks chunks{count, g.size};
  char* own = static_cast<char*>(recv) + chunks.offset(g.rank) * es;
  detail::ring_reduce_scatter(g, send, own, chunks, dtype);
  detail::ring_all_gather(g, recv, chunks, es);
}

}  // namespace meshlm

// all_gather: ring algorithm, and the in-place ring all-gather building block
// that all_reduce uses after its ring reduce-scatter.
#include <mpi.h>

#include <cstring>

#include "collectives/collectives.h"
#include "collectives/detail.h"

namespace meshlm {
namespace detail {

void ring_all_gather(const AxisGroup& g, void* buf, const Chunks& chunks, size_t esize) {
  const int p = g.size, r = g.rank;
  char* b = static_cast<char*>(buf);
  const int next = (r + 1) % p, prev = (r - 1 + p) % p;
  // Step s: forward chunk r-s (this rank's own at step 0), receive chunk r-s-1.
  for (int s = 0; s < p - 1; ++s) {
    const int sc = ((r - s) % p + p) % p, rc = ((r - s - 1) % p + p) % p;
    sendrecv(b + chunks.offset(sc) * esize, chunks.size(sc) * esize, next,
             b + chunks.offset(rc) * esize, chunks.size(rc) * esize, prev, g.comm, kTagAllGather);
  }
}

}  // namespace detail

void all_gather(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                CollectiveImpl impl) {
  constexpr const char* op = "all_gather";
  const size_t p = static_cast<size_t>(g.size);
  const size_t es =
      detail::check_send_recv(op, g, send, recv, count, dtype, /*reduction=*/false, p);
  char* own = static_cast<char*>(recv) + static_cast<size_t>(g.rank) * count * es;
  detail::check_overlap(op, g, send, count * es, recv, p * count * es, recv, own);
  detail::StatsScope stats(op, impl, count * es);
  if (count == 0) return;

  if (impl == CollectiveImpl::mpi) {
    detail::check_mpi_count(op, g, p * count);
    const MPI_Datatype t = detail::mpi_type(dtype);
    const int n = static_cast<int>(count);
    if (send == recv && own != recv) std::memcpy(own, send, count * es);
    if (send == recv || send == own)
      MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, n, t, g.comm);
    else
      MPI_Allgather(send, n, t, recv, n, t, g.comm);
    return;
  }
  if (send != own) std::memcpy(own, send, count * es);  // send == recv: disjoint when rank > 0
  detail::ring_all_gather(g, recv, detail::Chunks{p * count, g.size}, es);
}

}  // namespace meshlm

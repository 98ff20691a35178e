// all_to_all: pairwise exchange. At step s (0..p-1) rank r trades blocks with
// rank (s - r) mod p, a perfect matching, so every step is one sendrecv per
// pair (or a local copy when a rank is matched with itself).
#include <mpi.h>

#include <cstring>

#include "collectives/collectives.h"
#include "collectives/detail.h"

namespace meshlm {

void all_to_all(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                CollectiveImpl impl) {
  constexpr const char* op = "all_to_all";
  const int p = g.size, r = g.rank;
  const size_t up = static_cast<size_t>(p);
  const size_t es =
      detail::check_send_recv(op, g, send, recv, count, dtype, /*reduction=*/false, up);
  detail::check_overlap(op, g, send, up * count * es, recv, up * count * es, recv);
  detail::StatsScope stats(op, impl, up * count * es);
  if (count == 0) return;
  const bool in_place = send == recv;

  if (impl == CollectiveImpl::mpi) {
    detail::check_mpi_count(op, g, up * count);
    const MPI_Datatype t = detail::mpi_type(dtype);
    const int n = static_cast<int>(count);
    MPI_Alltoall(in_place ? MPI_IN_PLACE : send, n, t, recv, n, t, g.comm);
    return;
  }
  const size_t blk = count * es;
  const char* s = static_cast<const char*>(send);
  char* d = static_cast<char*>(recv);
  void* tmp = in_place ? detail::scratch(0, blk) : nullptr;  // [count] one incoming block
  for (int step = 0; step < p; ++step) {
    const int q = ((step - r) % p + p) % p;
    const size_t off = static_cast<size_t>(q) * blk;
    if (q == r) {
      if (!in_place) std::memcpy(d + off, s + off, blk);
    } else if (in_place) {
      detail::sendrecv(d + off, blk, q, tmp, blk, q, g.comm, detail::kTagAllToAll);
      std::memcpy(d + off, tmp, blk);
    } else {
      detail::sendrecv(s + off, blk, q, d + off, blk, q, g.comm, detail::kTagAllToAll);
    }
  }
}

}  // namespace meshlm

// broadcast: binomial tree for small messages, a pipelined chain for large
// ones (every rank forwards each segment as soon as it has it).
#include <mpi.h>

#include <vector>

#include "collectives/collectives.h"
#include "collectives/detail.h"

namespace meshlm {
namespace {

constexpr size_t kChainSegment = 256 * 1024;           // bytes per pipelined segment
constexpr size_t kChainThreshold = 2 * kChainSegment;  // auto: chain from here on

// vr = rank relative to the root; a rank receives from vr - lowbit(vr) and
// sends to vr + mask for every mask below its lowest set bit.
void binomial(const AxisGroup& g, void* buf, size_t bytes, int root) {
  const int p = g.size, vr = (g.rank - root + p) % p;
  int mask = 1;
  while (mask < p) {
    if (vr & mask) {
      detail::recv(buf, bytes, (vr - mask + root) % p, g.comm, detail::kTagBroadcast);
      break;
    }
    mask <<= 1;
  }
  for (mask >>= 1; mask > 0; mask >>= 1)
    if (vr + mask < p)
      detail::send(buf, bytes, (vr + mask + root) % p, g.comm, detail::kTagBroadcast);
}

// root -> root+1 -> ... -> root-1, in segments: latency (p - 2 + segments)
// segment times instead of log2(p) whole-message times.
void chain(const AxisGroup& g, void* buf, size_t bytes, int root) {
  const int p = g.size, vr = (g.rank - root + p) % p;
  const int prev = (g.rank - 1 + p) % p, next = (g.rank + 1) % p;
  char* b = static_cast<char*>(buf);
  std::vector<MPI_Request> sends;
  for (size_t off = 0; off < bytes; off += kChainSegment) {
    const int len = static_cast<int>(bytes - off < kChainSegment ? bytes - off : kChainSegment);
    if (vr > 0)
      MPI_Recv(b + off, len, MPI_BYTE, prev, detail::kTagBroadcast, g.comm, MPI_STATUS_IGNORE);
    if (vr < p - 1) {
      sends.emplace_back();
      MPI_Isend(b + off, len, MPI_BYTE, next, detail::kTagBroadcast, g.comm, &sends.back());
    }
  }
  MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE);
}

}  // namespace

void broadcast(const AxisGroup& g, void* buf, size_t count, DType dtype, int root,
               CollectiveImpl impl) {
  constexpr const char* op = "broadcast";
  detail::check_group(op, g);
  const size_t es = detail::element_size(op, g, dtype, /*reduction=*/false);
  detail::check_count(op, g, count, es, 1);
  detail::check_buffer(op, g, "", buf, count);
  if (root < 0 || root >= g.size)
    MESHLM_FAIL("broadcast over axis '" << g.name << "': root " << root
                                        << " is out of range for a group of size " << g.size
                                        << " (valid roots are 0.." << g.size - 1 << ")");
  detail::StatsScope stats(op, impl, count * es);
  if (count == 0 || g.size == 1) return;

  if (impl == CollectiveImpl::mpi) {
    detail::check_mpi_count(op, g, count);
    MPI_Bcast(buf, static_cast<int>(count), detail::mpi_type(dtype), root, g.comm);
    return;
  }
  const size_t bytes = count * es;
  const bool use_chain = impl == CollectiveImpl::meshlm_bandwidth ||
                         (impl == CollectiveImpl::meshlm && g.size > 2 && bytes >= kChainThreshold);
  if (use_chain)
    chain(g, buf, bytes, root);
  else
    binomial(g, buf, bytes, root);
}

}  // namespace meshlm

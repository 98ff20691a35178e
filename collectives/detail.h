// Internals shared by the collectives (not part of the public API): argument
// checks, uneven chunking, point-to-point helpers that lift MPI's int limits,
// reusable scratch memory, the fp32-accumulating reduction kernel, the MPI
// types/ops of the plain-MPI backend, and the ring building blocks that
// all_reduce composes (defined in reduce_scatter.cpp and all_gather.cpp).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "collectives/collectives.h"

namespace meshlm::detail {

// `count` elements split into `parts` chunks; the first count % parts chunks
// are one element larger (so nothing is truncated).
struct Chunks {
  size_t count = 0;
  int parts = 1;
  size_t size(int i) const {
    return count / parts + (static_cast<size_t>(i) < count % parts ? 1 : 0);
  }
  size_t offset(int i) const {
    const size_t base = count / parts, extra = count % parts, ui = static_cast<size_t>(i);
    return ui * base + (ui < extra ? ui : extra);
  }
};

// ---- argument checks (throw meshlm::Error naming the op and axis) ----------
// Element size in bytes; `reduction` ops accept fp32 and bf16 only.
size_t element_size(const char* op, const AxisGroup& g, DType dtype, bool reduction);
void check_group(const char* op, const AxisGroup& g);
// count * esize * blocks must fit in a ptrdiff_t (rejects negative counts
// converted to size_t).
void check_count(const char* op, const AxisGroup& g, size_t count, size_t esize, size_t blocks);
void check_buffer(const char* op, const AxisGroup& g, const char* which, const void* p,
                  size_t count);
// The checks every send/recv collective starts with, in this order: group,
// dtype, count (with `blocks` blocks of count elements), send and recv
// buffers. Returns the element size.
size_t check_send_recv(const char* op, const AxisGroup& g, const void* send, const void* recv,
                       size_t count, DType dtype, bool reduction, size_t blocks);
// Throws if send [a, a+abytes) and recv [b, b+bbytes) overlap, unless `a` is
// one of the exact in-place layouts `allowed1`, `allowed2`.
void check_overlap(const char* op, const AxisGroup& g, const void* a, size_t abytes, const void* b,
                   size_t bbytes, const void* allowed1, const void* allowed2 = nullptr);

// ---- point-to-point --------------------------------------------------------
// Sends `sbytes` to `dst` while receiving `rbytes` from `src` (either side may
// be empty); messages above 1 GiB travel in several pieces.
void sendrecv(const void* sbuf, size_t sbytes, int dst, void* rbuf, size_t rbytes, int src,
              MPI_Comm comm, int tag);
inline void send(const void* buf, size_t bytes, int dst, MPI_Comm comm, int tag) {
  sendrecv(buf, bytes, dst, nullptr, 0, MPI_PROC_NULL, comm, tag);
}
inline void recv(void* buf, size_t bytes, int src, MPI_Comm comm, int tag) {
  sendrecv(nullptr, 0, MPI_PROC_NULL, buf, bytes, src, comm, tag);
}

// Tags, one per collective, so a stray message can never match another's.
enum Tag : int {
  kTagAllReduce = 0x4d00,
  kTagReduceScatter,
  kTagAllGather,
  kTagBroadcast,
  kTagAllToAll
};

// ---- scratch ---------------------------------------------------------------
// A grow-only, 64-byte aligned buffer per slot and thread, reused across calls
// so large collectives do not pay for fresh pages every time.
void* scratch(int slot, size_t bytes);
inline constexpr int kScratchSlots = 3;

// ---- reduction kernels -----------------------------------------------------
// out[i] = a[i] + b[i], computed in fp32 (a, b, out each fp32 or bf16; out may
// alias a or b element for element). One rounding to bf16 when out is bf16.
void add(void* out, DType out_t, const void* a, DType a_t, const void* b, DType b_t, size_t n);
// out[i] = in[i] converted (fp32 <-> bf16, or a copy when the types match).
void convert(void* out, DType out_t, const void* in, DType in_t, size_t n);

// ---- plain-MPI backend -----------------------------------------------------
MPI_Datatype mpi_type(DType dtype);  // MPI_FLOAT, MPI_UINT16_T for bf16/fp16, MPI_INT8_T
MPI_Op mpi_sum_op(DType dtype);      // MPI_SUM, or the widening bf16 op
// MPI collectives take int counts: throws when a buffer of `elements`
// elements is beyond the plain-MPI backend (more than INT_MAX).
void check_mpi_count(const char* op, const AxisGroup& g, size_t elements);

// ---- ring building blocks (used by all_reduce) -----------------------------
// Ring reduce-scatter over `chunks` of `in` (dtype elements): on return
// `out_own` holds chunk g.rank summed over the group, in dtype. Chunk c's sum
// starts at rank c+1 and travels the ring to rank c, accumulating in fp32:
// ((in_{c+1} + in_{c+2}) + ...) + in_c, rounded once. out_own may alias
// in + offset(g.rank) or a region of `in` consumed before the last step's
// chunk (e.g. the start of a reduce_scatter's in-place buffer).
void ring_reduce_scatter(const AxisGroup& g, const void* in, void* out_own, const Chunks& chunks,
                         DType dtype);
// Ring all-gather in place: chunk g.rank of buf is filled; on return all are.
void ring_all_gather(const AxisGroup& g, void* buf, const Chunks& chunks, size_t esize);

// Records one call in collective_stats() when it goes out of scope.
class StatsScope {
 public:
  StatsScope(const char* op, CollectiveImpl impl, uint64_t bytes);
  ~StatsScope();
  StatsScope(const StatsScope&) = delete;
  StatsScope& operator=(const StatsScope&) = delete;

 private:
  const char* op_;
  CollectiveImpl impl_;
  uint64_t bytes_;
  double start_;
};

}  // namespace meshlm::detail

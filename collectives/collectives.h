// Collectives over one mesh axis or the whole mesh (an AxisGroup from
// DeviceMesh::axis()). Semantics match MPI: every rank of the group calls the
// same collective with the same count and dtype; results are bit-identical on
// every rank. fp32 and bf16 (bf16 is reduced with fp32 accumulation and rounded
// once, DESIGN.md §7); the data-movement collectives (all_gather, broadcast,
// all_to_all) also move fp16 and int8.
//
// The project's own algorithms are built on MPI point-to-point:
//   all_reduce     small: recursive doubling (non-powers of two fold the extra
//                  ranks in first); large: ring reduce-scatter + ring all-gather.
//                  Each element's sum is formed once, in a fixed order, in fp32,
//                  then distributed, so every rank holds the same bits.
//   reduce_scatter ring, fp32 partials travel around the ring.
//   all_gather     ring.
//   broadcast      small: binomial tree; large: pipelined chain.
//   all_to_all     pairwise exchange.
// CollectiveImpl::mpi runs the plain MPI collective on the same data instead
// (MPI_Allreduce, ...), for mesh-bench's comparison; bf16 reductions then use
// an MPI_Op that widens to fp32, adds and rounds at every step.
//
// Counts: `count` is in elements. Counts need not divide the group size
// (all_reduce splits its ring chunks unevenly); a count whose byte size
// overflows (e.g. a negative value converted to size_t) is rejected with a
// meshlm::Error, as are null buffers with count > 0, unsupported dtypes, a root
// out of range and partially overlapping send/recv buffers. These checks are
// local (no communication), so pass the same arguments on every rank.
//
// In-place: all_reduce and all_to_all when send == recv; all_gather when send
// == recv (this rank's block at the start of recv) or send == recv + rank *
// count elements (MPI's layout); reduce_scatter when send == recv (recv holds
// the g.size blocks of input and the result replaces its first block).
//
// Every call records calls/bytes/seconds in collective_stats() (stats.h).
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "mesh/device_mesh.h"
#include "sharding/dtype.h"
#include "sharding/error.h"

namespace meshlm {

enum class CollectiveImpl {
  meshlm,            // the project's algorithms, chosen by message size (default)
  meshlm_latency,    // force the small-message algorithm (all_reduce, broadcast)
  meshlm_bandwidth,  // force the large-message algorithm (all_reduce, broadcast)
  mpi,               // the plain MPI collective, for comparison
};
const char* impl_name(CollectiveImpl impl);  // "meshlm", "meshlm-latency", ..., "mpi"

// Sum over the group: recv[i] = sum_r send_r[i], `count` elements.
void all_reduce(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                CollectiveImpl impl = CollectiveImpl::meshlm);
// recv (g.size * count elements) = concat over ranks, in group-rank order, of
// each rank's `count` elements.
void all_gather(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                CollectiveImpl impl = CollectiveImpl::meshlm);
// send holds g.size blocks of `count` elements; rank r receives (count
// elements) the sum of block r over the group.
void reduce_scatter(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                    CollectiveImpl impl = CollectiveImpl::meshlm);
// buf on `root` (a rank of the group) is copied to every rank of the group.
void broadcast(const AxisGroup& g, void* buf, size_t count, DType dtype, int root,
               CollectiveImpl impl = CollectiveImpl::meshlm);
// send holds g.size blocks of `count` elements; block j goes to rank j; recv
// block i came from rank i.
void all_to_all(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype,
                CollectiveImpl impl = CollectiveImpl::meshlm);

// The DType of a C++ element type (float -> f32, bf16 -> bf16).
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<bf16>() {
  return DType::bf16;
}

// Typed conveniences (in-place all-reduce of a whole buffer).
inline void all_reduce(const AxisGroup& g, std::span<float> inout) {
  all_reduce(g, inout.data(), inout.data(), inout.size(), DType::f32);
}
inline void all_reduce(const AxisGroup& g, std::span<bf16> inout) {
  all_reduce(g, inout.data(), inout.data(), inout.size(), DType::bf16);
}
// recv.size() must be g.size * send.size().
template <class T>
void all_gather(const AxisGroup& g, std::span<const T> send, std::span<T> recv) {
  if (recv.size() != send.size() * static_cast<size_t>(g.size))
    throw Error("all_gather over axis '" + g.name + "': recv has " + std::to_string(recv.size()) +
                " elements, expected " + std::to_string(g.size) + " x " +
                std::to_string(send.size()));
  all_gather(g, send.data(), recv.data(), send.size(), dtype_of<T>());
}

}  // namespace meshlm

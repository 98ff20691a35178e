// Collectives over one mesh axis or the whole mesh (an AxisGroup from
// DeviceMesh::axis()), with MPI's semantics: every rank of the group calls the
// same collective with the same count and dtype; results are bit-identical on
// every rank. Reductions (all_reduce, reduce_scatter) take fp32 or bf16 (bf16
// summed in fp32, rounded once); the data-movement collectives (all_gather,
// broadcast, all_to_all) move any whole-byte element type: fp32, bf16, fp16,
// int8, int32 (token ids) and uint8 (bytes of trivially-copyable records).
// Algorithms (recursive doubling and ring all-reduce, ring reduce-scatter and
// all-gather, binomial / pipelined-chain broadcast, pairwise all_to_all), the
// in-place conventions and the argument checks: docs/DESIGN.md §7.
// CollectiveImpl::mpi runs the plain MPI collective instead, for mesh-bench.
// `count` is in elements; every call records calls/bytes/seconds in
// collective_stats() (stats.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

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

// The DType of a C++ element type: float, bf16, int32_t, uint8_t, std::byte.
template <class T>
constexpr bool kHasDType =
    std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, int32_t> ||
    std::is_same_v<T, uint8_t> || std::is_same_v<T, std::byte>;
template <class T>
constexpr DType dtype_of() {
  static_assert(kHasDType<T>, "no DType for this element type");
  if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, bf16>)
    return DType::bf16;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::i32;
  else
    return DType::u8;
}

// Typed conveniences (in-place all-reduce of a whole buffer).
inline void all_reduce(const AxisGroup& g, std::span<float> inout) {
  all_reduce(g, inout.data(), inout.data(), inout.size(), DType::f32);
}
inline void all_reduce(const AxisGroup& g, std::span<bf16> inout) {
  all_reduce(g, inout.data(), inout.data(), inout.size(), DType::bf16);
}
// recv.size() must be g.size * send.size(). Elements with a DType travel as
// that type; other trivially copyable records (structs of figures, (value,
// id) pairs) as their bytes (uint8).
template <class T>
void all_gather(const AxisGroup& g, std::span<const T> send, std::span<T> recv) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (recv.size() != send.size() * static_cast<size_t>(g.size))
    throw Error("all_gather over axis '" + g.name + "': recv has " + std::to_string(recv.size()) +
                " elements, expected " + std::to_string(g.size) + " x " +
                std::to_string(send.size()));
  if constexpr (kHasDType<T>)
    all_gather(g, send.data(), recv.data(), send.size(), dtype_of<T>());
  else
    all_gather(g, send.data(), recv.data(), send.size() * sizeof(T), DType::u8);
}

}  // namespace meshlm

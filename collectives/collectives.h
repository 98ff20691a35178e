// Collectives over one mesh axis or the whole mesh (an AxisGroup from
// DeviceMesh::axis()). Semantics match MPI: every rank of the group calls the
// same collective with the same count and dtype; results are bit-identical on
// every rank. In-place when send == recv. fp32 and bf16 (bf16 is reduced with
// fp32 accumulation, DESIGN.md §7).
#pragma once

#include <cstddef>
#include <span>

#include "mesh/device_mesh.h"
#include "sharding/dtype.h"

namespace meshlm {

// Sum over the group: recv[i] = sum_r send_r[i], `count` elements.
void all_reduce(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype);
// recv = concat over ranks (in group-rank order) of each rank's `count` elements.
void all_gather(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype);
// send holds g.size blocks of `count` elements; rank r receives the sum of block r.
void reduce_scatter(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype);
// buf on `root` is copied to every rank of the group.
void broadcast(const AxisGroup& g, void* buf, size_t count, DType dtype, int root);
// send holds g.size blocks of `count` elements; block j goes to rank j; recv
// block i came from rank i.
void all_to_all(const AxisGroup& g, const void* send, void* recv, size_t count, DType dtype);

// Typed conveniences.
inline void all_reduce(const AxisGroup& g, std::span<float> inout) {
  all_reduce(g, inout.data(), inout.data(), inout.size(), DType::f32);
}
inline void all_reduce(const AxisGroup& g, std::span<bf16> inout) {
  all_reduce(g, inout.data(), inout.data(), inout.size(), DType::bf16);
}

}  // namespace meshlm

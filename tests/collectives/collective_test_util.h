// Helpers for the distributed collective tests: the groups every test runs
// over (whole mesh, 1xN / Nx1, and dp / mp of a 2x2 mesh on 4 ranks), seeded
// inputs per world rank, fp32/bf16 encoding, and a bytes-identical check.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "collectives/collectives.h"
#include "common/mpi_world.h"
#include "mesh/device_mesh.h"

namespace meshlm::testing {

using test::world_rank;
using test::world_size;

struct TestGroup {
  std::string label;         // "2x2 over dp"
  const AxisGroup* g;        // this rank's group
  std::vector<int> members;  // world ranks of the group, in group order
};

// Built once (a collective over MPI_COMM_WORLD; every rank calls it alike).
inline const std::vector<TestGroup>& test_groups() {
  static std::vector<std::unique_ptr<DeviceMesh>> meshes;
  static std::vector<TestGroup> groups;
  if (!groups.empty()) return groups;
  const int n = world_size();
  auto add = [&](const std::string& shape, const std::string& axis) {
    if (meshes.empty() || meshes.back()->abstract().shape_string() != shape)
      meshes.push_back(std::make_unique<DeviceMesh>(MPI_COMM_WORLD, AbstractMesh::parse(shape)));
    const AxisGroup& g = meshes.back()->axis(axis);
    std::vector<int> members(static_cast<size_t>(g.size));
    const int me = world_rank();
    MPI_Allgather(&me, 1, MPI_INT, members.data(), 1, MPI_INT, g.comm);
    groups.push_back({shape + " over " + axis, &g, members});
  };
  add("1x" + std::to_string(n), "all");
  if (n > 1) add(std::to_string(n) + "x1", "dp");
  if (n == 4) {
    add("2x2", "dp");
    add("2x2", "mp");
  }
  return groups;
}

enum class Values { integers, reals };

// `n` seeded inputs of world rank `w`: integers in [-range, range] (sums
// exact in fp32 and bf16) or reals in [-1, 1). Rounded to `dtype`.
inline std::vector<float> inputs(int w, size_t n, Values kind, DType dtype, uint64_t seed,
                                 int range = 25) {
  std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(w) * 7919u + n);
  std::uniform_int_distribution<int> ints(-range, range);
  std::uniform_real_distribution<float> reals(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) {
    x = kind == Values::integers ? static_cast<float>(ints(rng)) : reals(rng);
    if (dtype == DType::bf16) x = bf16_to_float(float_to_bf16(x));
  }
  return v;
}

inline size_t esize(DType t) {
  return static_cast<size_t>(dtype_bits(t) / 8);
}

// Writes values as fp32 or bf16 at dst.
inline void encode(const std::vector<float>& v, DType t, void* dst) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::f32)
      static_cast<float*>(dst)[i] = v[i];
    else
      static_cast<bf16*>(dst)[i] = float_to_bf16(v[i]);
  }
}
inline std::vector<float> decode(const void* src, DType t, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = t == DType::f32 ? static_cast<const float*>(src)[i]
                           : bf16_to_float(static_cast<const bf16*>(src)[i]);
  return v;
}

// True on every rank iff `bytes` bytes at p are identical on all ranks of g.
inline bool identical_across_group(const AxisGroup& g, const void* p, size_t bytes) {
  if (bytes == 0) return true;  // the same on every rank: nothing to compare
  std::vector<char> all(bytes * static_cast<size_t>(g.size));
  MPI_Allgather(p, static_cast<int>(bytes), MPI_BYTE, all.data(), static_cast<int>(bytes), MPI_BYTE,
                g.comm);
  for (int q = 1; q < g.size; ++q)
    if (std::memcmp(all.data(), all.data() + q * bytes, bytes) != 0) return false;
  return true;
}

// Counts of elements to try: 0, 1, odd, smaller than the group, not
// divisible by it, and a few thousand.
inline std::vector<size_t> odd_counts(int p) {
  std::vector<size_t> c = {0, 1, 7, 1001, 4099};
  if (p > 2) c.push_back(static_cast<size_t>(p - 1));
  c.push_back(static_cast<size_t>(p + 1));
  return c;
}

inline constexpr CollectiveImpl kAllImpls[] = {
    CollectiveImpl::meshlm, CollectiveImpl::meshlm_latency, CollectiveImpl::meshlm_bandwidth,
    CollectiveImpl::mpi};
inline constexpr DType kDTypes[] = {DType::f32, DType::bf16};

inline std::string describe(const TestGroup& tg, DType t, bool in_place, CollectiveImpl impl,
                            size_t count) {
  return tg.label + ", " + dtype_name(t) + (in_place ? ", in-place" : ", out-of-place") + ", " +
         impl_name(impl) + ", count " + std::to_string(count);
}

}  // namespace meshlm::testing

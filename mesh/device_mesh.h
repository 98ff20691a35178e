// DeviceMesh: an AbstractMesh bound to the ranks of an MPI communicator
// (Cartesian, no reordering), with one AxisGroup per axis. Ranks are devices
// laid out row-major over the mesh, the last axis ("mp") fastest:
// rank = dp_index * mp_size + mp_index (docs/DESIGN.md §3).
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "sharding/abstract_mesh.h"

namespace meshlm {

// The ranks that share every coordinate but those of some axes: the group a
// collective "over axis mp" runs in. `rank` is this rank's index in it.
struct AxisGroup {
  std::string name;  // "mp", "dp", or "dp,mp" for the whole mesh
  MPI_Comm comm = MPI_COMM_NULL;
  int size = 1;
  int rank = 0;
};

class DeviceMesh {
 public:
  // Collective over `world`: every rank must pass the same mesh. A mesh whose
  // size differs from the communicator's size throws meshlm::Error on every
  // rank ("mesh 2x2 needs 4 ranks, but the job has 3"), before any collective.
  DeviceMesh(MPI_Comm world, AbstractMesh mesh);
  ~DeviceMesh();
  DeviceMesh(const DeviceMesh&) = delete;
  DeviceMesh& operator=(const DeviceMesh&) = delete;

  const AbstractMesh& abstract() const { return mesh_; }
  int rank() const { return rank_; }
  int size() const { return mesh_.size(); }
  const std::vector<int>& coords() const { return coords_; }
  int coord(const std::string& axis) const { return coords_[mesh_.axis_index(axis)]; }

  // The group along one named axis; "all" (or "") = the whole mesh.
  const AxisGroup& axis(const std::string& name) const;
  const AxisGroup& all() const { return all_; }
  MPI_Comm comm() const { return all_.comm; }

  std::string describe_rank() const;  // "rank 3 (dp=1, mp=1)"

 private:
  AbstractMesh mesh_;
  int rank_ = 0;
  std::vector<int> coords_;
  AxisGroup all_;
  std::vector<AxisGroup> axes_;  // one per mesh axis, in mesh order
};

}  // namespace meshlm

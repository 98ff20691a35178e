#include "mesh/device_mesh.h"

#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

DeviceMesh::DeviceMesh(MPI_Comm world, AbstractMesh mesh) : mesh_(std::move(mesh)) {
  int world_size = 0;
  MPI_Comm_size(world, &world_size);
  MPI_Comm_rank(world, &rank_);
  if (world_size != mesh_.size())
    MESHLM_FAIL("mesh " << mesh_.shape_string() << " " << mesh_.to_string() << " needs "
                        << mesh_.size() << " ranks, but the job has " << world_size
                        << " (run mpirun -n " << mesh_.size()
                        << " or choose a mesh whose sizes multiply to " << world_size << ")");

  // A Cartesian communicator without reordering keeps world rank == mesh rank,
  // row-major with the last axis fastest.
  std::vector<int> dims = mesh_.shape();
  std::vector<int> periods(dims.size(), 0);
  MPI_Comm cart = MPI_COMM_NULL;
  MPI_Cart_create(world, mesh_.num_axes(), dims.data(), periods.data(), /*reorder=*/0, &cart);
  int cart_rank = -1;
  MPI_Comm_rank(cart, &cart_rank);
  MESHLM_CHECK(cart_rank == rank_, "cartesian rank " << cart_rank << " != world rank " << rank_);
  coords_.assign(dims.size(), 0);
  MPI_Cart_coords(cart, rank_, mesh_.num_axes(), coords_.data());
  MESHLM_CHECK(coords_ == mesh_.coords_of(rank_), "MPI cartesian layout differs from row-major");

  all_ = AxisGroup{join(mesh_.axis_names(), ","), cart, mesh_.size(), rank_};

  for (int a = 0; a < mesh_.num_axes(); ++a) {
    std::vector<int> keep(dims.size(), 0);
    keep[a] = 1;
    AxisGroup g;
    g.name = mesh_.axes()[a].first;
    MPI_Cart_sub(cart, keep.data(), &g.comm);
    MPI_Comm_size(g.comm, &g.size);
    MPI_Comm_rank(g.comm, &g.rank);
    MESHLM_CHECK(g.rank == coords_[a],
                 "axis '" << g.name << "' rank " << g.rank << " != coordinate " << coords_[a]);
    axes_.push_back(g);
  }
}

DeviceMesh::~DeviceMesh() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (auto& g : axes_) MPI_Comm_free(&g.comm);
  if (all_.comm != MPI_COMM_NULL) MPI_Comm_free(&all_.comm);
}

const AxisGroup& DeviceMesh::axis(const std::string& name) const {
  if (name.empty() || name == "all" || name == all_.name) return all_;
  return axes_[mesh_.axis_index(name)];
}

std::string DeviceMesh::describe_rank() const {
  std::string s = "rank " + std::to_string(rank_) + " (";
  for (int a = 0; a < mesh_.num_axes(); ++a)
    s += (a ? ", " : "") + mesh_.axes()[a].first + "=" + std::to_string(coords_[a]);
  return s + ")";
}

}  // namespace meshlm

// The job's world size and this process's rank, for tests under mpirun.
#pragma once

#include <mpi.h>

namespace meshlm::test {

inline int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

}  // namespace meshlm::test

#include "mesh/mpi_session.h"

#include <cblas.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace meshlm {
namespace {
void abort_job() {
  MPI_Abort(MPI_COMM_WORLD, 1);
}
}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  set_process_rank(rank_);
  set_fatal_handler(abort_job);
  // One BLAS thread per rank (docs/DESIGN.md §8): ranks are the parallelism.
  openblas_set_num_threads(1);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void all_agree(MPI_Comm comm, const std::function<void()>& step) {
  std::string message;
  bool failed = false;
  try {
    step();
  } catch (const std::exception& e) {
    failed = true;
    message = e.what();
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = failed ? rank : size;
  int first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return;
  int count = 0, one = failed ? 1 : 0;
  MPI_Allreduce(&one, &count, 1, MPI_INT, MPI_SUM, comm);
  int len = static_cast<int>(message.size());
  MPI_Bcast(&len, 1, MPI_INT, first, comm);
  std::vector<char> buf(message.begin(), message.end());
  buf.resize(static_cast<size_t>(len));
  MPI_Bcast(buf.data(), len, MPI_CHAR, first, comm);
  throw AgreedError(std::string(buf.begin(), buf.end()), first, count);
}

int guarded_main(const std::function<int()>& body) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    return body();
  } catch (const AgreedError& e) {
    if (rank == 0) {
      if (e.failing_count() == size || size == 1)
        std::fprintf(stderr, "error: %s\n", e.what());
      else
        std::fprintf(stderr, "error (rank %d): %s\n", e.failing_rank(), e.what());
      std::fflush(stderr);
    }
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error (rank %d): %s\n", rank, e.what());
    std::fflush(stderr);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}

}  // namespace meshlm

// Process-level MPI plumbing shared by the executables: MpiSession (MPI up
// and down, one BLAS thread per rank, failed invariants abort the job),
// all_agree() (every rank reaches the same verdict on a validation step) and
// guarded_main() (the top-level catch). How no rank hangs on bad input:
// docs/DESIGN.md §9; MPI flags and BLAS threads: docs/DESIGN.md §8.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>

#include "sharding/error.h"

namespace meshlm {

class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0;
  int size_ = 1;
};

// An error every rank of the communicator knows about (thrown by all_agree on
// every rank): guarded_main prints it once, from rank 0, and every rank exits
// with status 1 through MPI_Finalize — no MPI_Abort needed.
class AgreedError : public Error {
 public:
  AgreedError(const std::string& msg, int failing_rank, int failing_count)
      : Error(msg), failing_rank_(failing_rank), failing_count_(failing_count) {}
  int failing_rank() const { return failing_rank_; }
  int failing_count() const { return failing_count_; }

 private:
  int failing_rank_;
  int failing_count_;
};

// Collective over `comm`: runs `step` on this rank; if it throws meshlm::Error
// (or std::exception) on any rank, every rank throws AgreedError carrying the
// message of the lowest failing rank.
void all_agree(MPI_Comm comm, const std::function<void()>& step);

// Runs `body` and turns errors into an exit status: AgreedError -> rank 0
// prints "error: ..." and all ranks return 1; any other error on one rank ->
// that rank prints "error (rank r): ..." and calls MPI_Abort so no rank hangs.
int guarded_main(const std::function<int()>& body);

}  // namespace meshlm

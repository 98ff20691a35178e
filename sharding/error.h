// Errors and invariants shared by every meshlm library.
//
// - meshlm::Error: a user error (bad input, bad config, does not fit). Thrown,
//   caught at the top of each executable, printed once, non-zero exit.
// - MESHLM_CHECK(cond, msg): an always-on invariant. A failure is a bug: it
//   prints the rank, file:line and message to stderr and aborts the job.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace meshlm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The rank printed by failed invariants and log lines; -1 outside an MPI job.
// mesh/ sets it once MPI is initialised (sharding/ itself never sees MPI).
void set_process_rank(int rank);
int process_rank();

// Called on a failed invariant. Installable so that mesh/ can MPI_Abort the
// whole job instead of leaving the other ranks hanging.
using FatalHandler = void (*)();
void set_fatal_handler(FatalHandler handler);
[[noreturn]] void check_failed(const char* cond, const char* file, int line,
                               const std::string& msg);

}  // namespace meshlm

#define MESHLM_CHECK(cond, msg)                                                  \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::ostringstream meshlm_check_os_;                                       \
      meshlm_check_os_ << msg;                                                   \
      ::meshlm::check_failed(#cond, __FILE__, __LINE__, meshlm_check_os_.str()); \
    }                                                                            \
  } while (0)

// Throws meshlm::Error with a streamed message: MESHLM_FAIL("dim " << d << " bad").
#define MESHLM_FAIL(msg)                          \
  do {                                            \
    std::ostringstream meshlm_fail_os_;           \
    meshlm_fail_os_ << msg;                       \
    throw ::meshlm::Error(meshlm_fail_os_.str()); \
  } while (0)

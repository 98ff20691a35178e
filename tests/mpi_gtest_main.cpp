// gtest main for distributed tests: every rank runs every test; rank 0 prints
// the usual output, other ranks print only their failures (with their rank).
// A failure on any rank makes that rank exit non-zero, so mpirun fails.
#include <gtest/gtest.h>

#include <cstdio>

#include "mesh/mpi_session.h"

namespace {
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                   r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }

 private:
  int rank_;
};
}  // namespace

int main(int argc, char** argv) {
  meshlm::MpiSession session(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  if (session.rank() != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(session.rank()));
  }
  return RUN_ALL_TESTS();
}

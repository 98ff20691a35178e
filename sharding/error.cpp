#include "sharding/error.h"

#include <cstdio>
#include <cstdlib>

namespace meshlm {
namespace {
int g_rank = -1;
FatalHandler g_fatal = nullptr;
}  // namespace

void set_process_rank(int rank) {
  g_rank = rank;
}
int process_rank() {
  return g_rank;
}
void set_fatal_handler(FatalHandler handler) {
  g_fatal = handler;
}

void check_failed(const char* cond, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "[rank %d] internal error at %s:%d: check '%s' failed: %s\n", g_rank, file,
               line, cond, msg.c_str());
  std::fflush(stderr);
  if (g_fatal) g_fatal();
  std::abort();
}

}  // namespace meshlm

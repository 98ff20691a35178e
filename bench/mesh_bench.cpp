// mesh-bench: benchmarks on a mesh of MPI ranks acting as devices.
//   mpirun -n 2 mesh-bench collectives --op all_reduce --json ar.json
// Each subcommand lives in its own file (see commands.h).
#include "bench/commands.h"
#include "mesh/cli_main.h"

int main(int argc, char** argv) {
  using namespace meshlm::bench;
  return meshlm::cli_main(argc, argv,
                          "mesh-bench: benchmarks on a dp x mp mesh of MPI ranks acting as devices",
                          {add_collectives_command, add_matmul_command, add_decode_command,
                           add_prefill_command, add_accuracy_command});
}

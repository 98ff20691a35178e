// mesh-run: run on a mesh of MPI ranks acting as devices.
//   mpirun -n 4 mesh-run info --mesh 2x2
//   mpirun -n 2 mesh-run serve --model M --mesh 1x2 --port 8000
#include "mesh/cli_main.h"
#include "model/cli/commands.h"

int main(int argc, char** argv) {
  using namespace meshlm::cli;
  return meshlm::cli_main(argc, argv,
                          "mesh-run: run on a dp x mp mesh of MPI ranks acting as devices",
                          {add_info_command, add_generate_command, add_serve_command});
}

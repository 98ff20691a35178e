// mesh-bench: benchmarks on a mesh of MPI ranks acting as devices.
//   mpirun -n 2 mesh-bench collectives --op all_reduce --json ar.json
// Each subcommand lives in its own file (see commands.h).
#include <CLI/CLI.hpp>
#include <utility>
#include <vector>

#include "bench/commands.h"
#include "mesh/mpi_session.h"

int main(int argc, char** argv) {
  meshlm::MpiSession session(&argc, &argv);
  CLI::App app{"mesh-bench: benchmarks on a dp x mp mesh of MPI ranks acting as devices"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, meshlm::bench::Command>> commands;
  for (auto adder : {meshlm::bench::add_collectives_command, meshlm::bench::add_matmul_command,
                     meshlm::bench::add_decode_command, meshlm::bench::add_prefill_command}) {
    auto run = adder(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(run));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same arguments and exits alike; rank 0 prints.
    if (session.rank() == 0) return app.exit(e);
    return e.get_exit_code();
  }
  return meshlm::guarded_main([&] {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    return 1;
  });
}

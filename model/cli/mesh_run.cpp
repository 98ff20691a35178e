// mesh-run: run on a mesh of MPI ranks acting as devices.
//   mpirun -n 4 mesh-run info --mesh 2x2
#include <CLI/CLI.hpp>
#include <utility>
#include <vector>

#include "mesh/mpi_session.h"
#include "model/cli/commands.h"

int main(int argc, char** argv) {
  meshlm::MpiSession session(&argc, &argv);
  CLI::App app{"mesh-run: run on a dp x mp mesh of MPI ranks acting as devices"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, meshlm::cli::Command>> commands;
  for (auto adder : {meshlm::cli::add_info_command, meshlm::cli::add_generate_command}) {
    auto run = adder(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(run));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (session.rank() == 0) return app.exit(e);
    return e.get_exit_code();
  }
  return meshlm::guarded_main([&] {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    return 1;
  });
}

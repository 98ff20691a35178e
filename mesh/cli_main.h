// The main() of the subcommand executables (mesh-run, mesh-bench): MPI up,
// CLI11 parsing on every rank (rank 0 prints help and parse errors), then the
// chosen subcommand inside guarded_main. Header-only: the executables link
// CLI11, the mesh library does not.
//   int main(int argc, char** argv) {
//     return meshlm::cli_main(argc, argv, "mesh-run: ...", {add_info_command, ...});
//   }
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "mesh/mpi_session.h"

namespace meshlm {

// What a subcommand runs (after parsing, inside guarded_main): the exit status.
using CliCommand = std::function<int()>;
// Registers one subcommand's options on the app and returns what it runs.
using AddCliCommand = CliCommand (*)(CLI::App&);

inline int cli_main(int argc, char** argv, const std::string& description,
                    std::initializer_list<AddCliCommand> adders) {
  MpiSession session(&argc, &argv);
  CLI::App app{description};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, CliCommand>> commands;
  for (AddCliCommand adder : adders) {
    CliCommand run = adder(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(run));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same arguments and exits alike; rank 0 prints.
    if (session.rank() == 0) return app.exit(e);
    return e.get_exit_code();
  }
  return guarded_main([&] {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    return 1;
  });
}

}  // namespace meshlm

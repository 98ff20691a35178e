// Subcommands of mesh-run; each registers its options on the CLI11 app and
// returns the function that runs it (inside guarded_main, after MPI init).
#pragma once

#include <CLI/CLI.hpp>

#include "mesh/cli_main.h"

namespace meshlm::cli {

using Command = CliCommand;  // mesh/cli_main.h

// mesh-run info: the mesh, every rank's coordinates and its device.
Command add_info_command(CLI::App& app);
// mesh-run generate: sharded generation (model/cli/generate_command.cpp).
Command add_generate_command(CLI::App& app);
// mesh-run serve: the OpenAI-compatible server (model/cli/serve_command.cpp).
Command add_serve_command(CLI::App& app);

}  // namespace meshlm::cli

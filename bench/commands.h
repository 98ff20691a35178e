// Subcommands of mesh-bench, one file each (collectives_command.cpp, ...).
// Each registers its options on the CLI11 app and returns the function that
// runs it (inside guarded_main, after MPI init). To add one: declare it here,
// list it in mesh_bench.cpp's table and in bench/CMakeLists.txt.
#pragma once

#include <CLI/CLI.hpp>

#include "mesh/cli_main.h"

namespace meshlm::bench {

using Command = CliCommand;  // mesh/cli_main.h

// mesh-bench collectives: the project's collectives against plain MPI
// (osu/nccl-tests style table, --json, --tsv, --check).
Command add_collectives_command(CLI::App& app);

// mesh-bench matmul: linear() (fp32/bf16/int8/int4 weights) against cblas_sgemm, GEMV
// and GEMM shapes, with the memory-read bandwidth (matmul_command.cpp).
Command add_matmul_command(CLI::App& app);

// mesh-bench decode / prefill: end-to-end steps of a synthetic model on a
// mesh (decode_command.cpp, prefill_command.cpp, shared model_bench.h).
Command add_decode_command(CLI::App& app);
Command add_prefill_command(CLI::App& app);

// mesh-bench accuracy: logit NMSE and top-1 agreement of quantized weights
// and KV caches against fp32 on a real checkpoint (accuracy_command.cpp).
Command add_accuracy_command(CLI::App& app);

}  // namespace meshlm::bench

// What mesh-run generate and serve share: the options that say which model,
// how it is sharded and on which devices, and the steps that turn them into a
// mesh, a checkpoint and a plan. Each step throws meshlm::Error on bad input:
// call it inside all_agree so that every rank exits together.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mesh/device_choice.h"
#include "model/io/checkpoint.h"
#include "model/io/tokenizer.h"
#include "model/weights.h"
#include "planner/mesh_search.h"
#include "sharding/abstract_mesh.h"
#include "sharding/plan.h"

namespace meshlm::cli {

struct ModelOptions {
  std::string model, plan, mesh, tokenizer, dtype, kv_dtype = "fp32", device, device_memory, moe;
  int64_t seq_len = 0, prefill_chunk = kDefaultPrefillChunk;
  uint64_t synthetic_seed = 1;
  bool synthetic = false;
};

// --model --plan --mesh --tokenizer --synthetic --synthetic-seed --seq-len
// --prefill-chunk --dtype --kv-dtype --moe --devices --device-memory.
void add_model_options(CLI::App* sub, ModelOptions& o);

// The mesh (from --plan, or --mesh, default 1 x world) and the device.
struct MeshChoice {
  std::optional<Plan> plan;  // when --plan was given
  AbstractMesh mesh;
  DeviceChoice device;
};
MeshChoice choose_mesh(const ModelOptions& o, int world);

// The checkpoint (or --synthetic weights) and the tokenizer, if any.
struct ModelFiles {
  std::unique_ptr<Checkpoint> checkpoint;
  std::optional<Tokenizer> tokenizer;
};
ModelFiles open_model(const ModelOptions& o);

// The plan for `batch` sequences on the chosen mesh when none was given
// (weights in --dtype, default the checkpoint's; the model's sequence length
// unless --seq-len).
Plan plan_for_run(const ModelOptions& o, const Checkpoint& checkpoint, const MeshChoice& choice,
                  int64_t batch);

// Loading progress of rank 0 for models of 64 MiB or more per device.
LoadProgressFn progress_printer(int rank);

}  // namespace meshlm::cli

// Helpers for the runtime tests (tests/model/test_runtime_*.cpp): meshes of
// the job's ranks, plans, engines and comparisons of logits.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/mpi_world.h"
#include "common/test_util.h"
#include "mesh/device_memory.h"
#include "mesh/device_mesh.h"
#include "model/engine.h"
#include "model/generate.h"
#include "model/io/checkpoint.h"
#include "planner/planner.h"

namespace meshlm::test {

// Every dp x mp mesh of the job's ranks: 1 -> 1x1; 2 -> 1x2, 2x1; 4 -> 1x4, 2x2, 4x1.
inline std::vector<std::string> meshes_of_world() {
  const int n = world_size();
  std::vector<std::string> out;
  for (int dp = 1; dp <= n; ++dp)
    if (n % dp == 0) out.push_back(std::to_string(dp) + "x" + std::to_string(n / dp));
  return out;
}

inline Plan make_plan(const ModelConfig& c, const AbstractMesh& mesh, int64_t batch,
                      int64_t seq_len, DType weights = DType::f32, DType kv = DType::f32,
                      int64_t prefill_chunk = 0, std::optional<MoeSharding> moe = std::nullopt) {
  PlanRequest req;
  req.weight_dtype = weights;
  req.kv_dtype = kv;
  req.batch = batch;
  req.seq_len = seq_len;
  req.prefill_chunk = prefill_chunk;
  req.moe = moe;
  return plan_for_mesh(c, mesh, req);
}

// A model on a mesh: the DeviceMesh, its memory and the engine.
struct Deployment {
  std::unique_ptr<DeviceMesh> mesh;
  std::unique_ptr<DeviceMemory> memory;
  Plan plan;
  std::unique_ptr<Engine> engine;

  // On `comm` (MPI_COMM_WORLD, or MPI_COMM_SELF for a single-device twin).
  Deployment(MPI_Comm comm, const std::string& shape, const Checkpoint& ckpt, int64_t batch,
             int64_t seq_len, DType weights = DType::f32, DType kv = DType::f32,
             int64_t prefill_chunk = 0, std::optional<MoeSharding> moe = std::nullopt) {
    mesh = std::make_unique<DeviceMesh>(comm, AbstractMesh::parse(shape));
    memory = std::make_unique<DeviceMemory>(uint64_t{1} << 32, mesh->rank());
    const int64_t dp = mesh->abstract().axis_size("dp");
    plan = make_plan(ckpt.config(), mesh->abstract(), (batch + dp - 1) / dp * dp, seq_len, weights,
                     kv, prefill_chunk, moe);
    engine = std::make_unique<Engine>(ckpt, plan, *mesh, *memory);
  }
};

struct ErrorStats {
  double max_abs = 0, nmse = 0, max_ref = 0;
};

// Max abs error and normalised MSE (sum (a-b)^2 / sum b^2) of a vs reference b.
inline ErrorStats compare(const LogitsView& a, const std::vector<float>& b) {
  ErrorStats s;
  double num = 0, den = 0;
  for (int64_t v = 0; v < a.vocab(); ++v) {
    const double d = static_cast<double>(a.at(v)) - b[static_cast<size_t>(v)];
    s.max_abs = std::max(s.max_abs, std::abs(d));
    s.max_ref = std::max(s.max_ref, std::abs(static_cast<double>(b[static_cast<size_t>(v)])));
    num += d * d;
    den += static_cast<double>(b[static_cast<size_t>(v)]) * b[static_cast<size_t>(v)];
  }
  s.nmse = den > 0 ? num / den : num;
  return s;
}

inline std::vector<float> copy_logits(const LogitsView& l) {
  std::vector<float> out(static_cast<size_t>(l.vocab()));
  for (int64_t v = 0; v < l.vocab(); ++v) out[static_cast<size_t>(v)] = l.at(v);
  return out;
}

// One case of tests/data/stories260K.greedy.json: the reference loop's ids
// for a prompt run to max_positions.
struct GoldenCase {
  std::vector<int32_t> prompt;
  int64_t max_positions;
  std::vector<int32_t> ids;
};

inline std::vector<GoldenCase> golden_cases() {
  std::ifstream f(testdata("stories260K.greedy.json"));
  const auto j = nlohmann::json::parse(f);
  std::vector<GoldenCase> out;
  for (auto& c : j)
    out.push_back({c.at("prompt_ids").get<std::vector<int32_t>>(),
                   c.at("max_positions").get<int64_t>(),
                   c.at("generated_ids").get<std::vector<int32_t>>()});
  return out;
}

// Logits of each sequence at each step: prefill (last prompt token), then
// one per decode step fed with the given tokens (teacher forcing).
using Trace = std::vector<std::vector<std::vector<float>>>;  // [sequence][step][vocab]

// Runs the sequences of this rank's dp replica for `steps` logit vectors each
// (the prefill's, then steps - 1 decode steps fed with fed[g]); returns their
// traces (other replicas' sequences stay empty). With `check_greedy`, each
// pass's distributed greedy argmax must agree with the gathered logits'.
inline Trace trace_logits(Engine& e, const std::vector<std::vector<int32_t>>& prompts,
                          const std::vector<std::vector<int32_t>>& fed, int64_t steps,
                          bool check_greedy = false) {
  const ShardLayout& L = e.layout();
  Trace t(prompts.size());
  std::vector<SlotTokens> mine;
  std::vector<size_t> global;
  for (size_t g = L.dp_index; g < prompts.size(); g += L.dp) {
    mine.push_back({static_cast<int32_t>(g / L.dp), prompts[g]});
    global.push_back(g);
  }
  if (mine.empty()) return t;
  auto record = [&] {
    for (size_t i = 0; i < global.size(); ++i) t[global[i]].push_back(copy_logits(e.logits(i)));
    if (!check_greedy) return;
    std::vector<int32_t> greedy(global.size());
    e.greedy_tokens(greedy);
    for (size_t i = 0; i < global.size(); ++i) {
      std::vector<float> l = t[global[i]].back();
      EXPECT_EQ(greedy[i], argmax(LogitsView{l.data(), static_cast<int64_t>(l.size()), 0, 1}));
    }
  };
  e.reset_all();
  e.prefill(mine);
  record();
  std::vector<int32_t> slots, tokens;
  for (auto& m : mine) slots.push_back(m.slot);
  for (int64_t step = 0; step + 1 < steps; ++step) {
    tokens.clear();
    for (size_t g : global) tokens.push_back(fed[g][static_cast<size_t>(step)]);
    e.decode_step(slots, tokens);
    record();
  }
  return t;
}

}  // namespace meshlm::test

// plan_for_mesh: the plan the runtime executes — specs, predicted bytes that
// equal the runtime's allocations, batch/seq defaults, and clear errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "arch/shard_layout.h"
#include "arch/tensor_roles.h"
#include "common/test_models.h"
#include "planner/planner.h"

namespace fs = std::filesystem;
using namespace meshlm;
using meshlm::test::error_of;

TEST(PlanForMesh, Stories260KOnEveryTestMesh) {
  const ModelConfig c = ModelConfig::load(test::stories260k_path());
  for (const char* shape : {"1x1", "2x2", "1x4", "2x1", "1x2"}) {
    const AbstractMesh mesh = AbstractMesh::parse(shape);
    const int dp = mesh.axis_size("dp"), mp = mesh.axis_size("mp");
    PlanRequest r;  // fp32, seq 512 (model max), batch 2 x dp, no device: no memory check
    r.batch = 2 * dp;
    const Plan p = plan_for_mesh(c, mesh, r);
    EXPECT_EQ(p.seq_len, 512) << shape;
    EXPECT_EQ(p.prefill_chunk, 512) << shape;
    EXPECT_EQ(p.batch, 2 * dp);
    EXPECT_EQ(p.tensors.size(), tensor_inventory(c).size());
    EXPECT_EQ(p.spec_for("model.layers.4.mlp.down_proj.weight"), PartitionSpec::of({"", "mp"}));
    EXPECT_EQ(p.kv_cache_spec, PartitionSpec::of({"dp", "mp", "", ""}));
    const LocalDims l = shard_layout(c, p, {0, 0}).local_dims();
    EXPECT_EQ(l.heads, 8 / mp);
    EXPECT_EQ(l.kv_heads, 4 / mp);
    EXPECT_EQ(l.intermediate, 172 / mp);
    EXPECT_EQ(l.vocab, 512 / mp);
    // KV: batch_local 2 x 5 layers x 2 x K_l x 512 positions x 8 x 4 B.
    EXPECT_EQ(p.predicted_bytes.at("kv_cache"), 2ull * 5 * 2 * (4 / mp) * 512 * 8 * 4) << shape;
    // Weights: every shard's bytes; norms (11 x 64) replicated, the rest split mp ways.
    EXPECT_EQ(p.predicted_bytes.at("weights"), 4ull * ((260032 - 11 * 64) / mp + 11 * 64)) << shape;
    const ActivationShape a{2, 512, 512, 512, true};
    EXPECT_EQ(p.predicted_bytes.at("activations"), activation_bytes(c, l, a)) << shape;
    EXPECT_EQ(p.predicted_bytes.at("comm"), mp > 1 ? 512ull * 64 * 4 : 0u) << shape;
    EXPECT_EQ(p.predicted_bytes.at("reserve"), 0u);  // no device: capacity unknown
    // The plan survives a save/load round trip unchanged.
    const fs::path path =
        fs::temp_directory_path() / (std::string("meshlm_plan_") + shape + ".json");
    p.save(path.string());
    EXPECT_EQ(Plan::load(path.string()).to_json(), p.to_json());
    fs::remove(path);
  }
}

TEST(PlanForMesh, LargestBatchAndLongestSequenceByDefault) {
  const ModelConfig c = ModelConfig::load("llama-2-13b");
  PlanRequest r;
  r.weight_dtype = r.kv_dtype = DType::bf16;
  r.device = DeviceSpec::load("tpu-v4-8");
  r.seq_len = 4096;
  r.prefill_chunk = 512;
  const Plan p = plan_for_mesh(c, dp_mp_mesh(1, 4), r);
  EXPECT_EQ(p.batch, 28);  // the golden test's hand arithmetic
  uint64_t used = 0;
  for (auto& [k, v] : p.predicted_bytes)
    if (k != "capacity") used += v;
  EXPECT_LE(used, p.predicted_bytes.at("capacity"));
  EXPECT_GT(used + p.predicted_bytes.at("kv_cache") / 28, p.predicted_bytes.at("capacity"));

  r.seq_len = 0;  // longest that fits 1 sequence per replica: the model max 4096 fits
  r.batch = 4;
  const Plan q = plan_for_mesh(c, dp_mp_mesh(2, 2), r);
  EXPECT_EQ(q.seq_len, 4096);
  EXPECT_EQ(q.batch, 4);
}

TEST(PlanForMesh, ErrorsNameTheCause) {
  const ModelConfig c = ModelConfig::load(test::stories260k_path());
  PlanRequest r;
  r.batch = 3;
  const std::string dp = error_of([&] { plan_for_mesh(c, dp_mp_mesh(2, 1), r); });
  EXPECT_NE(dp.find("batch 3 is not divisible by axis 'dp' (size 2)"), std::string::npos) << dp;

  r.batch = 1;
  const std::string mp = error_of([&] { plan_for_mesh(c, dp_mp_mesh(1, 3), r); });
  EXPECT_NE(mp.find("axis 'mp' (size 3)"), std::string::npos) << mp;

  r.seq_len = 1024;
  EXPECT_NE(
      error_of([&] { plan_for_mesh(c, dp_mp_mesh(1, 1), r); }).find("max_position_embeddings"),
      std::string::npos);

  const ModelConfig big = ModelConfig::load("llama-3.1-70b");
  PlanRequest b;
  b.weight_dtype = b.kv_dtype = DType::bf16;
  b.device = DeviceSpec::load("tpu-v4-8");
  b.seq_len = 4096;
  b.batch = 1;
  const std::string mem = error_of([&] { plan_for_mesh(big, dp_mp_mesh(1, 4), b); });
  EXPECT_NE(mem.find("each device needs"), std::string::npos) << mem;
  EXPECT_NE(mem.find("weights 32.86 GiB"), std::string::npos) << mem;
  EXPECT_NE(mem.find("but has 32.00 GiB"), std::string::npos) << mem;
  b.device_memory = 64ull << 30;  // a bigger device fits
  EXPECT_EQ(plan_for_mesh(big, dp_mp_mesh(1, 4), b).predicted_bytes.at("capacity"), 64ull << 30);
}

TEST(PlanForMesh, ShippedExamplePlansLoadAndMatchTheirModels) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(fs::path(config_dir()) / "plans")) {
    if (e.path().extension() != ".json") continue;
    const Plan p = Plan::load(e.path().string());
    const ModelConfig c = ModelConfig::from_hf_json(p.model_config, p.model_name);
    for (int i = 0; i < p.mesh.size(); ++i)
      shard_layout(c, p, p.mesh.coords_of(i));  // throws on a mismatch
    EXPECT_EQ(p.tensors.size(), tensor_inventory(c).size()) << e.path();
    ++n;
  }
  EXPECT_GE(n, 4u);
  const Plan p = Plan::load(resolve_config("plans", "stories260K-2x2"));
  EXPECT_EQ(p.mesh, dp_mp_mesh(2, 2));
  EXPECT_EQ(p.model_name, "stories260K");
  EXPECT_EQ(p.weight_dtype, DType::f32);
}

TEST(PlanForMesh, PlanMismatchingTheModelIsRejected) {
  const ModelConfig c = ModelConfig::load(test::stories260k_path());
  Plan p = plan_for_mesh(c, dp_mp_mesh(1, 2), PlanRequest{});
  auto j = c.to_hf_json();
  j["intermediate_size"] = 174;
  const ModelConfig other = ModelConfig::from_hf_json(j, "other");
  const std::string e = error_of([&] { shard_layout(other, p, {0, 0}); });
  EXPECT_NE(e.find("intermediate_size is 172"), std::string::npos) << e;
  p.model_config = nlohmann::json();  // a hand-written plan that does not name its model
  const std::string t = error_of([&] { shard_layout(other, p, {0, 0}); });
  EXPECT_NE(t.find("mlp.gate_proj.weight"), std::string::npos) << t;
}

// shard_layout(): what each device holds. The planner and the runtime call
// it alike; here it agrees with the planner's layout and predicted bytes on
// every shipped model and every mesh of up to 8 devices, and every rejection
// a hand-written plan can hit is named.
#include <gtest/gtest.h>

#include <filesystem>

#include "arch/shard_layout.h"
#include "arch/tensor_roles.h"
#include "common/test_util.h"
#include "planner/layout.h"
#include "planner/planner.h"
#include "sharding/device_spec.h"

namespace fs = std::filesystem;
using namespace meshlm;
using meshlm::test::expect_error;

namespace {

TEST(ShardLayout, AgreesWithThePlannerOnEveryShippedModelAndMeshUpTo8Devices) {
  int checked = 0;
  for (auto& e : fs::directory_iterator(fs::path(config_dir()) / "models")) {
    if (e.path().extension() != ".json") continue;
    const ModelConfig c = ModelConfig::load(e.path().string());
    for (DType dtype : {DType::bf16, DType::i8, DType::i4})
      for (int n = 1; n <= 8; ++n) {
        for (int mp = 1; mp <= n; ++mp) {
          if (n % mp != 0) continue;
          const int dp = n / mp;
          SCOPED_TRACE(c.name + " " + dtype_name(dtype) + " on " + std::to_string(dp) + "x" +
                       std::to_string(mp));
          MeshLayout planned;
          try {
            planned = make_layout(c, dp_mp_mesh(dp, mp), dtype);
          } catch (const Error&) {
            continue;  // the planner rejects the mesh (divisibility, a cut quantization block)
          }
          PlanRequest r;
          r.weight_dtype = dtype;
          r.kv_dtype = DType::bf16;
          r.batch = dp;
          r.seq_len = std::min<int64_t>(c.max_position_embeddings, 256);
          // The plan as the runtime reads it: written and loaded back.
          const Plan p = Plan::from_json(plan_for_mesh(c, dp_mp_mesh(dp, mp), r).to_json());
          // Every device in bf16; the first and last of the quantized plans.
          for (int rank = 0; rank < n; rank += dtype == DType::bf16 ? 1 : std::max(1, n - 1)) {
            const ShardLayout L = shard_layout(c, p, p.mesh.coords_of(rank));
            EXPECT_EQ(L.local_dims(), planned.local) << "rank " << rank;
            EXPECT_EQ(L.weight_bytes(c, p), p.predicted_bytes.at("weights"));
            EXPECT_EQ(L.kv_cache_bytes(c), p.predicted_bytes.at("kv_cache"));
            EXPECT_EQ(L.activation_bytes(c), p.predicted_bytes.at("activations"));
            EXPECT_EQ(L.comm_bytes(c), p.predicted_bytes.at("comm"));
            // The mp ranks tile the heads, the FFN, the experts and the vocabulary.
            EXPECT_EQ(L.q_heads.begin, L.mp_index * L.q_heads.size);
            const int64_t ffn0 = L.ffn.size < c.intermediate_size ? L.mp_index * L.ffn.size : 0;
            EXPECT_EQ(L.ffn.begin, ffn0);
            const int64_t vocab0 = L.vocab_sharded ? L.mp_index * L.vocab.size : 0;
            EXPECT_EQ(L.vocab.begin, vocab0);
            const bool expert_parallel = c.is_moe() && L.experts.size < c.num_experts;
            EXPECT_EQ(L.experts.begin, expert_parallel ? L.mp_index * L.experts.size : 0);
            EXPECT_EQ(L.attn_partial, mp > 1);
          }
          ++checked;
        }
      }
  }
  EXPECT_GE(checked, 300);  // 10 models x 3 dtypes x up to 20 meshes, less those rejected
}

TEST(ShardLayout, AQuantizedSplitThatCutsABlockIsRejectedByPlannerAndRuntime) {
  const ModelConfig c = ModelConfig::load(std::string(MESHLM_TESTDATA_DIR) + "/stories260K.bin");
  // down_proj's input (172) on mp 2: shards of 86 columns cut a block of 32.
  expect_error([&] { make_layout(c, dp_mp_mesh(1, 2), DType::i8); },
               {"down_proj.weight", "shards of 86", "quantization block of 32"});
  Plan p = plan_for_mesh(c, dp_mp_mesh(1, 2), PlanRequest{});  // fp32: fine
  p.weight_dtype = DType::i4;                                  // a hand-edited plan
  for (const TensorInfo& info : tensor_inventory(c))
    if (TensorPlan* t = const_cast<TensorPlan*>(p.find(info.name)))
      t->dtype = storage_dtype(info, DType::i4);
  expect_error([&] { shard_layout(c, p, {0, 1}); }, {"down_proj.weight", "shards of 86"});
  EXPECT_NO_THROW(make_layout(c, dp_mp_mesh(2, 1), DType::i4));  // dp splits no weight
}

// A small llama (D 64, I 172, 2 layers, H 8, K 4 of hd 8, V 512) planned for a mesh.
ModelConfig small() {
  return ModelConfig::from_hf_json(test::small_llama_json(), "small");
}
Plan plan_on(int dp, int mp) {
  PlanRequest r;
  r.batch = dp;
  r.seq_len = 16;
  return plan_for_mesh(small(), dp_mp_mesh(dp, mp), r);
}
void set_spec(Plan& p, TensorRole role, int64_t layer, std::initializer_list<const char*> spec) {
  const std::string name = tensor_name(role, layer);
  for (auto& t : p.tensors)
    if (t.name == name) t.spec = PartitionSpec::of(spec);
}
void expect_rejected(const Plan& p, const std::vector<std::string>& fragments) {
  expect_error([&] { shard_layout(small(), p, {0, 0}); }, fragments);
}

TEST(ShardLayoutRejects, AMeshWithoutDpAndMpAxes) {
  Plan p = plan_on(1, 2);
  p.mesh = AbstractMesh({{"data", 1}, {"mp", 2}});
  expect_rejected(p, {"mesh with axes (dp, mp)", "data"});
}

TEST(ShardLayoutRejects, APlanMadeForAnotherModel) {
  Plan p = plan_on(1, 2);
  p.model_config["num_attention_heads"] = 16;
  expect_rejected(p, {"whose num_attention_heads is 16", "has 8"});
}

TEST(ShardLayoutRejects, ATensorTheModelDoesNotHave) {
  Plan p = plan_on(1, 2);
  p.tensors.push_back(
      {"model.layers.7.mlp.up_proj.weight", {172, 64}, DType::f32, PartitionSpec::of({"mp", ""})});
  expect_rejected(p, {"model.layers.7.mlp.up_proj.weight", "does not have"});
}

TEST(ShardLayoutRejects, ATensorOfAnotherShape) {
  Plan p = plan_on(1, 2);
  p.model_config = nlohmann::json();  // hand-written: names no model
  p.tensors[2].shape = {72, 64};
  expect_rejected(p, {p.tensors[2].name, "shape [72, 64]", "has [64, 64]"});
}

TEST(ShardLayoutRejects, AWeightShardedOverDp) {
  Plan p = plan_on(2, 2);
  set_spec(p, TensorRole::q, 0, {"dp", ""});
  expect_rejected(p, {"model.layers.0.self_attn.q_proj.weight", "over 'mp' only"});
}

TEST(ShardLayoutRejects, ASplitOfAnotherDimensionThanItsStyle) {
  Plan p = plan_on(1, 2);
  set_spec(p, TensorRole::q, 1, {"", "mp"});
  expect_rejected(p, {"model.layers.1.self_attn.q_proj.weight", "dimension 1 (embed) replicated",
                      "P('mp', None)"});
  p = plan_on(1, 2);
  set_spec(p, TensorRole::attn_norm, 0, {"mp"});
  expect_rejected(p, {"input_layernorm", "dimension 0 (embed) replicated: P(None)"});
}

TEST(ShardLayoutRejects, PartialHeads) {
  Plan p;  // rules only, 16 ways: 64 rows of q_proj = 8 heads of 8 give 4 rows each
  p.mesh = dp_mp_mesh(1, 16);
  p.rules = default_rules(small(), true, true);
  p.batch = 1;
  p.seq_len = 16;
  expect_rejected(p, {"q_proj.weight", "whole heads of 8", "gives 4"});
}

TEST(ShardLayoutRejects, KvHeadsItsQueryHeadsDoNotHold) {
  Plan p = plan_on(1, 2);
  for (int64_t l = 0; l < 2; ++l) {
    set_spec(p, TensorRole::q, l, {"", ""});
    set_spec(p, TensorRole::o, l, {"", ""});
  }
  expect_rejected(p, {"k_proj.weight", "KV heads [0, 4) (read by query heads [0, 8))",
                      "holds KV heads [0, 2)"});
}

TEST(ShardLayoutRejects, KvHeadsThatChangeFromLayerToLayer) {
  Plan p = plan_on(1, 2);
  set_spec(p, TensorRole::k, 1, {"", ""});
  expect_rejected(p, {"model.layers.1.self_attn.k_proj.weight", "KV heads [0, 2) of layer 0"});
}

TEST(ShardLayoutRejects, ASliceOtherThanTheFirstTensorSplitAlongItsAxis) {
  Plan p = plan_on(1, 2);
  set_spec(p, TensorRole::up, 0, {"", ""});
  expect_rejected(p, {"model.layers.0.mlp.up_proj.weight", "mlp [0, 86)", "holds [0, 172)"});
  p = plan_on(1, 2);
  set_spec(p, TensorRole::o, 1, {"", ""});
  expect_rejected(p, {"model.layers.1.self_attn.o_proj.weight", "heads [0, 4)"});
}

TEST(ShardLayoutRejects, ABatchThatDpDoesNotDivide) {
  Plan p = plan_on(2, 1);
  p.batch = 3;
  expect_rejected(p, {"batch (3) is not divisible by axis 'dp' (size 2)"});
}

TEST(ShardLayoutRejects, AKvCacheNotSplitOverDp) {
  Plan p = plan_on(2, 2);
  p.kv_cache_spec = PartitionSpec::of({"", "mp", "", ""});
  expect_rejected(p, {"kv_cache spec P(None, 'mp', None, None) is not how the runtime",
                      "P('dp', 'mp', None, None)"});
}

// Plan fields that contradict the runtime are refused, never ignored.
TEST(ShardLayoutRejects, AKvCacheSpecTheRuntimeDoesNotFollow) {
  Plan p = plan_on(1, 2);
  p.kv_cache_spec = PartitionSpec::of({"dp", "", "mp", ""});  // positions split: not done
  expect_rejected(
      p, {"P('dp', None, 'mp', None) is not how the runtime", "P(None, 'mp', None, None)"});
  p.kv_cache_spec = PartitionSpec::of({"dp", "", "", ""});  // heads split, spec says whole
  expect_rejected(p, {"is not how the runtime"});
}

TEST(ShardLayoutRejects, ASeqLenBeyondTheModel) {
  Plan p = plan_on(1, 2);
  p.seq_len = 100000;
  p.prefill_chunk = 16;
  expect_rejected(p, {"seq_len (100000) is longer than", "max_position_embeddings 256"});
}

TEST(ShardLayout, KvHeadsReplicatedWhenMpExceedsThem) {
  auto j = test::small_llama_json();
  j["intermediate_size"] = 256;
  const ModelConfig c = ModelConfig::from_hf_json(j, "small");
  PlanRequest r;
  r.seq_len = 16;
  // K 4 < mp 8: each device reads the one KV head of its one query head.
  const Plan p = plan_for_mesh(c, dp_mp_mesh(1, 8), r);
  for (int m = 0; m < 8; ++m) {
    const ShardLayout L = shard_layout(c, p, {0, m});
    EXPECT_EQ(L.q_heads, (Slice{m, 1}));
    EXPECT_EQ(L.kv_heads, (Slice{m / 2, 1}));
    EXPECT_EQ(L.kv_weight_head0, 0);  // k/v_proj replicated: every KV head's rows
  }
}

}  // namespace

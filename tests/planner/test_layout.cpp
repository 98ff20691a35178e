// Default Megatron-style layouts: the spec of every tensor kind, KV-head
// replication, replicated vocab, divisibility errors, exact weight bytes.
#include <gtest/gtest.h>

#include "arch/tensor_roles.h"
#include "common/test_util.h"
#include "planner/layout.h"
#include "planner/memory_model.h"

using namespace meshlm;
using meshlm::test::error_of;

namespace {
PartitionSpec spec_of(const MeshLayout& l, const std::string& name) {
  for (auto& t : l.tensors)
    if (t.name == name) return t.spec;
  ADD_FAILURE() << "no tensor " << name;
  return {};
}
const PartitionSpec col = PartitionSpec::of({"mp", ""});
const PartitionSpec row = PartitionSpec::of({"", "mp"});
const PartitionSpec rep2 = PartitionSpec::of({"", ""});
const PartitionSpec rep1 = PartitionSpec::of({""});
}  // namespace

TEST(Layout, LlamaMegatronSpecs) {
  const ModelConfig c = ModelConfig::load("llama-2-7b");
  const MeshLayout l = make_layout(c, dp_mp_mesh(1, 4), DType::bf16);
  EXPECT_EQ(spec_of(l, "model.embed_tokens.weight"), col);
  EXPECT_EQ(spec_of(l, "model.layers.5.self_attn.q_proj.weight"), col);
  EXPECT_EQ(spec_of(l, "model.layers.5.self_attn.k_proj.weight"), col);
  EXPECT_EQ(spec_of(l, "model.layers.5.self_attn.v_proj.weight"), col);
  EXPECT_EQ(spec_of(l, "model.layers.5.self_attn.o_proj.weight"), row);
  EXPECT_EQ(spec_of(l, "model.layers.5.mlp.gate_proj.weight"), col);
  EXPECT_EQ(spec_of(l, "model.layers.5.mlp.up_proj.weight"), col);
  EXPECT_EQ(spec_of(l, "model.layers.5.mlp.down_proj.weight"), row);
  EXPECT_EQ(spec_of(l, "model.layers.5.input_layernorm.weight"), rep1);
  EXPECT_EQ(spec_of(l, "model.norm.weight"), rep1);
  EXPECT_EQ(spec_of(l, "lm_head.weight"), col);
  EXPECT_EQ(l.kv_cache_spec, PartitionSpec::of({"dp", "mp", "", ""}));
  EXPECT_EQ(l.activation_spec, PartitionSpec::of({"dp", "", ""}));
  EXPECT_EQ(l.local.heads, 8);
  EXPECT_EQ(l.local.kv_heads, 8);
  EXPECT_EQ(l.local.intermediate, 2752);
  EXPECT_EQ(l.local.vocab, 8000);
  // Exact bytes: everything is split 4 ways except the 65 norms of 4096 (replicated).
  const uint64_t norms = 65 * 4096;
  EXPECT_EQ(l.weight_bytes, 2 * ((6738415616ull - norms) / 4 + norms));
  EXPECT_EQ(l.collectives_per_step(c.num_layers), 2 * 32 + 2);
}

TEST(Layout, KvHeadsReplicatedWhenMpIsAMultipleOfK) {
  const ModelConfig c = ModelConfig::load("tinyllama-1.1b");  // H 32, K 4
  const MeshLayout l = make_layout(c, dp_mp_mesh(1, 8), DType::bf16);
  EXPECT_TRUE(l.kv_replicated);
  EXPECT_EQ(spec_of(l, "model.layers.0.self_attn.k_proj.weight"), rep2);
  EXPECT_EQ(spec_of(l, "model.layers.0.self_attn.v_proj.weight"), rep2);
  EXPECT_EQ(spec_of(l, "model.layers.0.self_attn.q_proj.weight"), col);
  EXPECT_EQ(l.kv_cache_spec, PartitionSpec::of({"dp", "", "", ""}));
  EXPECT_EQ(l.local.kv_heads, 1);
  EXPECT_EQ(l.local.heads, 4);
  ASSERT_EQ(l.notes.size(), 1u);
  EXPECT_NE(l.notes[0].find("KV heads replicated"), std::string::npos);
  EXPECT_FALSE(make_layout(c, dp_mp_mesh(1, 4), DType::bf16).kv_replicated);
}

TEST(Layout, VocabReplicatedWhenNotDivisible) {
  auto j = ModelConfig::load("llama-2-7b").to_hf_json();
  j["vocab_size"] = 32001;
  const ModelConfig c = ModelConfig::from_hf_json(j, "odd-vocab");
  const MeshLayout l = make_layout(c, dp_mp_mesh(1, 2), DType::bf16);
  EXPECT_FALSE(l.vocab_sharded);
  EXPECT_EQ(spec_of(l, "model.embed_tokens.weight"), rep2);
  EXPECT_EQ(spec_of(l, "lm_head.weight"), rep2);
  EXPECT_EQ(l.local.vocab, 32001);
  EXPECT_EQ(l.collectives_per_step(c.num_layers), 2 * 32);
  EXPECT_NE(l.notes.at(0).find("vocab 32001"), std::string::npos);
}

TEST(Layout, DivisibilityErrorsNameTensorDimensionAndAxis) {
  const std::string heads = error_of(
      [] { make_layout(ModelConfig::load("llama-2-13b"), dp_mp_mesh(1, 3), DType::bf16); });
  EXPECT_NE(heads.find("q_proj.weight"), std::string::npos) << heads;
  EXPECT_NE(heads.find("axis 'mp' (size 3)"), std::string::npos) << heads;
  EXPECT_NE(heads.find("num_attention_heads 40"), std::string::npos) << heads;

  const std::string kv = error_of(  // H 24, K 8, mp 12: neither divides the other
      [] { make_layout(ModelConfig::load("llama-3.2-3b"), dp_mp_mesh(1, 12), DType::bf16); });
  EXPECT_NE(kv.find("k_proj.weight"), std::string::npos) << kv;
  EXPECT_NE(kv.find("num_key_value_heads 8"), std::string::npos) << kv;

  const std::string inter = error_of([] {
    make_layout(ModelConfig::load(std::string(MESHLM_TESTDATA_DIR) + "/stories260K.bin"),
                dp_mp_mesh(1, 8), DType::f32);
  });
  EXPECT_NE(inter.find("dimension 0 of model.layers.*.mlp.gate_proj.weight (size 172"),
            std::string::npos)
      << inter;
  EXPECT_NE(inter.find("axis 'mp' (size 8)"), std::string::npos) << inter;

  const std::string experts = error_of([] {
    make_layout(ModelConfig::load("gpt-oss-20b"), dp_mp_mesh(1, 64), DType::bf16, MoeSharding::ep);
  });
  EXPECT_NE(experts.find("experts.gate_up_proj"), std::string::npos) << experts;
  EXPECT_NE(experts.find("32 experts"), std::string::npos) << experts;
  EXPECT_NE(experts.find("--moe ep"), std::string::npos) << experts;
  // tp: 2880 / 64 = 45 columns of down_proj's input per device, not whole
  // blocks of 32 for mxfp4.
  const std::string blocks = error_of([] {
    make_layout(ModelConfig::load("gpt-oss-20b"), dp_mp_mesh(1, 64), DType::mxfp4, MoeSharding::tp);
  });
  EXPECT_NE(blocks.find("quantization block"), std::string::npos) << blocks;

  EXPECT_THROW(make_layout(ModelConfig::load("llama-2-7b"),
                           AbstractMesh::parse("2x2", {"data", "model"}), DType::bf16),
               Error);
}

TEST(Layout, MoeFamilies) {
  const ModelConfig mix = ModelConfig::load("mixtral-8x7b-v0.1");
  const MeshLayout m = make_layout(mix, dp_mp_mesh(1, 4), DType::bf16);
  const PartitionSpec ep3 = PartitionSpec::of({"mp", "", ""}),
                      tp_out = PartitionSpec::of({"", "mp", ""}),
                      tp_in = PartitionSpec::of({"", "", "mp"});
  EXPECT_EQ(spec_of(m, "model.layers.3.block_sparse_moe.gate.weight"), rep2);
  EXPECT_EQ(spec_of(m, "model.layers.3.block_sparse_moe.experts.w1"), tp_out);
  EXPECT_EQ(spec_of(m, "model.layers.3.block_sparse_moe.experts.w3"), tp_out);
  EXPECT_EQ(spec_of(m, "model.layers.3.block_sparse_moe.experts.w2"), tp_in);
  EXPECT_EQ(m.local.experts, 8);
  EXPECT_EQ(m.local.intermediate, 14336 / 4);
  const MeshLayout mep = make_layout(mix, dp_mp_mesh(1, 4), DType::bf16, MoeSharding::ep);
  for (const char* w : {"w1", "w2", "w3"})
    EXPECT_EQ(spec_of(mep, std::string("model.layers.3.block_sparse_moe.experts.") + w), ep3);
  EXPECT_EQ(mep.local.experts, 2);
  EXPECT_EQ(mep.local.intermediate, 14336);
  EXPECT_EQ(mep.weight_bytes, m.weight_bytes);  // the same bytes, placed otherwise

  const ModelConfig oss = ModelConfig::load("gpt-oss-20b");
  const MeshLayout g = make_layout(oss, dp_mp_mesh(1, 4), DType::bf16, MoeSharding::ep);
  EXPECT_EQ(spec_of(g, "model.layers.0.mlp.experts.gate_up_proj"), ep3);
  EXPECT_EQ(spec_of(g, "model.layers.0.mlp.experts.down_proj_bias"), col);
  const MeshLayout gt = make_layout(oss, dp_mp_mesh(1, 4), DType::bf16, MoeSharding::tp);
  EXPECT_EQ(spec_of(gt, "model.layers.0.mlp.experts.gate_up_proj"), tp_out);
  EXPECT_EQ(spec_of(gt, "model.layers.0.mlp.experts.gate_up_proj_bias"),
            PartitionSpec::of({"", "mp"}));
  EXPECT_EQ(spec_of(gt, "model.layers.0.mlp.experts.down_proj"), tp_in);
  EXPECT_EQ(spec_of(gt, "model.layers.0.mlp.experts.down_proj_bias"), rep2);  // added once
  EXPECT_EQ(gt.local.intermediate, 2880 / 4);
  EXPECT_EQ(spec_of(g, "model.layers.0.mlp.router.weight"), rep2);
  EXPECT_EQ(spec_of(g, "model.layers.0.self_attn.sinks"), PartitionSpec::of({"mp"}));
  EXPECT_EQ(spec_of(g, "model.layers.0.self_attn.q_proj.bias"), PartitionSpec::of({"mp"}));
  EXPECT_EQ(spec_of(g, "model.layers.0.self_attn.o_proj.bias"), rep1);
  EXPECT_EQ(g.local.intermediate, 2880);  // ep: experts are split whole

  const ModelConfig qwen = ModelConfig::load("qwen2-7b");  // K 4
  const MeshLayout q = make_layout(qwen, dp_mp_mesh(1, 4), DType::bf16);
  EXPECT_EQ(spec_of(q, "model.layers.0.self_attn.k_proj.bias"), PartitionSpec::of({"mp"}));
}

TEST(Layout, EveryTensorGetsTheFirstMatchingRule) {
  for (const char* name : {"llama-3.2-1b", "qwen2-7b", "mixtral-8x7b-v0.1", "gpt-oss-20b"}) {
    const ModelConfig c = ModelConfig::load(name);
    const MeshLayout l = make_layout(c, dp_mp_mesh(2, 2), DType::i8);
    ASSERT_EQ(l.tensors.size(), tensor_inventory(c).size());
    uint64_t bytes = 0;
    const auto inventory = tensor_inventory(c);
    for (size_t i = 0; i < l.tensors.size(); ++i) {
      const TensorPlan& t = l.tensors[i];
      EXPECT_EQ(t.spec, *l.rules.match(t.name)) << t.name;
      // Matrices and embeddings quantized; norms, biases (gpt_oss's [E, 2I]
      // expert biases too) and sinks in bf16.
      const TensorKind kind = role_info(inventory[i].role).kind;
      const bool quantized = kind == TensorKind::matrix || kind == TensorKind::embedding;
      EXPECT_EQ(t.dtype, quantized ? DType::i8 : DType::bf16) << t.name;
      bytes += weight_bytes(NamedSharding(l.mesh, t.spec).shard_shape(t.shape), t.dtype);
    }
    EXPECT_EQ(bytes, l.weight_bytes) << name;
  }
}

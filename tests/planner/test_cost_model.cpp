// The latency model: alpha-beta collectives and the roofline of decode and
// prefill, checked against hand arithmetic.
#include <gtest/gtest.h>

#include "planner/cost_model.h"
#include "planner/memory_model.h"

using namespace meshlm;

TEST(CostModel, AlphaBetaCollectives) {
  DeviceSpec d;
  d.interconnect_latency = 5e-6;
  d.interconnect_bandwidth = 4.5e10;
  // Ring all-reduce of 1 MB over 4: 2*3*5us + 2*3/4 * 1e6 / 4.5e10 = 30us + 33.33us.
  EXPECT_NEAR(all_reduce_seconds(d, 4, 1e6), 30e-6 + 1.5e6 / 4.5e10, 1e-12);
  // All-gather: 3*5us + 3/4 * 1e6 / 4.5e10.
  EXPECT_NEAR(all_gather_seconds(d, 4, 1e6), 15e-6 + 0.75e6 / 4.5e10, 1e-12);
  EXPECT_EQ(all_reduce_seconds(d, 1, 1e9), 0.0);
}

TEST(CostModel, DecodeIsBandwidthBoundOnOneDevice) {
  const ModelConfig c = ModelConfig::load("llama-2-7b");
  const DeviceSpec d = DeviceSpec::load("tpu-v4-8");
  const MeshLayout l = make_layout(c, dp_mp_mesh(1, 1), DType::bf16);
  const CostInputs in{&c, &l, &d, DType::bf16, DType::bf16};
  const StepCost s = decode_step_cost(in, 1, 4096);
  // Bytes: every weight except the embedding table (only one row is read)
  // = 2 x (6,738,415,616 - 131,072,000) + the 2 GiB KV cache of one sequence.
  const double bytes = 2.0 * (6738415616.0 - 131072000.0) + 2147483648.0;
  EXPECT_DOUBLE_EQ(s.bytes, bytes);
  EXPECT_NEAR(s.total_s, bytes / 1.2e12, 1e-12);
  EXPECT_FALSE(s.compute_bound());
  EXPECT_EQ(s.collectives, 0);
  // FLOPs: 2 x (matmul params incl. lm_head) + attention 4 x 32 heads x 128 x 4096 x 32 layers.
  EXPECT_DOUBLE_EQ(s.flops,
                   2.0 * (6738415616.0 - 131072000.0 - 65 * 4096) + 4.0 * 32 * 128 * 4096 * 32);
}

TEST(CostModel, TensorParallelDecodeAddsTwoAllReducesPerLayer) {
  const ModelConfig c = ModelConfig::load("llama-2-7b");
  const DeviceSpec d = DeviceSpec::load("tpu-v4-8");
  const MeshLayout l = make_layout(c, dp_mp_mesh(1, 4), DType::bf16);
  const CostInputs in{&c, &l, &d, DType::bf16, DType::bf16};
  const StepCost s = decode_step_cost(in, 8, 4096);
  EXPECT_EQ(s.collectives, 2 * 32 + 2);  // + embedding all-reduce + logits all-gather
  const double ar = all_reduce_seconds(d, 4, 4.0 * 8 * 4096);
  const double ag = all_gather_seconds(d, 4, 4.0 * 8 * 32000);
  EXPECT_NEAR(s.comm_s, 65 * ar + ag, 1e-12);
  EXPECT_NEAR(s.total_s, std::max(s.compute_s, s.memory_s) + s.comm_s, 1e-15);
}

TEST(CostModel, PrefillIsComputeBoundAndChunked) {
  const ModelConfig c = ModelConfig::load("llama-2-7b");
  const DeviceSpec d = DeviceSpec::load("tpu-v4-8");
  const MeshLayout l = make_layout(c, dp_mp_mesh(1, 1), DType::bf16);
  const CostInputs in{&c, &l, &d, DType::bf16, DType::bf16};
  const StepCost p = prefill_cost(in, 2048, 512);
  EXPECT_TRUE(p.compute_bound());
  // Dense matmuls: 2 x 2048 tokens x (params - embed - lm_head - norms) + lm_head for the
  // last position; causal attention: 4 x 32 x 128 x 32 layers x (2048 x 2049 / 2).
  const double dense = 6738415616.0 - 2 * 131072000.0 - 65 * 4096;
  const double flops =
      2.0 * 2048 * dense + 2.0 * 131072000 + 4.0 * 32 * 128 * 32 * (2048.0 * 2049 / 2);
  EXPECT_NEAR(p.flops / flops, 1.0, 1e-12);
  EXPECT_NEAR(p.total_s, flops / 2.75e14, 1e-9);  // every chunk compute-bound
  // Weights are read once per chunk: 4 chunks.
  EXPECT_GT(p.bytes, 4 * 2.0 * dense);
  // Sliding windows cut attention: mistral over 8192 tokens vs a full-attention twin.
  const ModelConfig mis = ModelConfig::load("mistral-7b-v0.1");
  auto j = mis.to_hf_json();
  j["sliding_window"] = nullptr;
  const ModelConfig full = ModelConfig::from_hf_json(j, "full");
  const MeshLayout lm = make_layout(mis, dp_mp_mesh(1, 1), DType::bf16);
  const MeshLayout lf = make_layout(full, dp_mp_mesh(1, 1), DType::bf16);
  const double fm = prefill_cost({&mis, &lm, &d, DType::bf16, DType::bf16}, 8192, 512).flops;
  const double ff = prefill_cost({&full, &lf, &d, DType::bf16, DType::bf16}, 8192, 512).flops;
  // Attention positions: full sum 8192*8193/2; windowed 4096*4097/2 + 4096*4096.
  const double per_pos = 4.0 * 32 * 128 * 32;
  EXPECT_NEAR(ff - fm, per_pos * (8192.0 * 8193 / 2 - (4096.0 * 4097 / 2 + 4096.0 * 4096)), 1.0);
}

// MoE placement: with whole experts per device (ep) the busiest device sets
// the pace. At batch 1 a token's 4 experts land on at most 4 of the 4
// devices, so the busiest streams more than the 1/4 of each touched expert
// that every device streams under tp; at a batch that touches every expert
// the two read the same bytes.
TEST(CostModel, ExpertParallelDecodePaysForTheBusiestDevice) {
  const ModelConfig c = ModelConfig::load("gpt-oss-20b");
  const DeviceSpec d = DeviceSpec::load("tpu-v4-8");
  const MeshLayout tp = make_layout(c, dp_mp_mesh(1, 4), DType::bf16, MoeSharding::tp);
  const MeshLayout ep = make_layout(c, dp_mp_mesh(1, 4), DType::bf16, MoeSharding::ep);
  const CostInputs in_tp{&c, &tp, &d, DType::bf16, DType::bf16};
  const CostInputs in_ep{&c, &ep, &d, DType::bf16, DType::bf16};
  const StepCost t1 = decode_step_cost(in_tp, 1, 4096), e1 = decode_step_cost(in_ep, 1, 4096);
  EXPECT_GT(e1.bytes, 1.2 * t1.bytes);
  EXPECT_GT(e1.flops, t1.flops);
  // tp at batch 1: 4 of 32 experts touched, each device a quarter of each.
  const double expert_bytes_tp = 2.0 * 24 * 32 * (5760.0 * 2880 + 2880.0 * 2880) / 4;
  EXPECT_GT(t1.bytes, expert_bytes_tp * 4 / 32);
  const StepCost t512 = decode_step_cost(in_tp, 512, 4096),
                 e512 = decode_step_cost(in_ep, 512, 4096);
  EXPECT_NEAR(e512.bytes / t512.bytes, 1.0, 0.01);
  // The same collectives either way: one all-reduce per attention and per MoE block.
  EXPECT_EQ(e1.collectives, t1.collectives);
}

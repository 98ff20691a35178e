// The memory model: weight bytes with block scales, KV bytes (GQA, sliding
// windows, int8 scales), reserve parsing, and max batch / longest sequence.
#include <gtest/gtest.h>

#include <random>

#include "planner/layout.h"
#include "planner/memory_model.h"
#include "sharding/error.h"

using namespace meshlm;

TEST(MemoryModel, WeightBytesWithBlockScales) {
  EXPECT_EQ(weight_bytes({4096, 4096}, DType::f32), 4096ull * 4096 * 4);
  EXPECT_EQ(weight_bytes({4096, 4096}, DType::bf16), 4096ull * 4096 * 2);
  // int8: 4096 bytes per row + 4096/32 = 128 bf16 scales (256 bytes) per row.
  EXPECT_EQ(weight_bytes({4096, 4096}, DType::i8), 4096ull * (4096 + 256));
  // int4: 2048 bytes per row + 256 bytes of scales.
  EXPECT_EQ(weight_bytes({4096, 4096}, DType::i4), 4096ull * (2048 + 256));
  // A row of 172 (not a multiple of 32): ceil(172/32) = 6 blocks; int4 86 bytes.
  EXPECT_EQ(weight_bytes({10, 172}, DType::i4), 10ull * (86 + 12));
  // 3-D expert tensors: blocks along the last dimension of each row.
  EXPECT_EQ(weight_bytes({8, 2880, 5760}, DType::i8), 8ull * 2880 * (5760 + 180 * 2));
  // Norms, biases and sinks stay bf16 when the weights are quantized, also
  // gpt_oss's rank-2 expert biases; matrices and embeddings are quantized.
  EXPECT_EQ(storage_dtype({"model.norm.weight", {4096}, TensorRole::final_norm}, DType::i4),
            DType::bf16);
  EXPECT_EQ(storage_dtype({"q", {4096, 10}, TensorRole::q}, DType::i4), DType::i4);
  EXPECT_EQ(storage_dtype({"e", {32000, 10}, TensorRole::embed}, DType::i8), DType::i8);
  EXPECT_EQ(storage_dtype({"b", {32, 5760}, TensorRole::experts_gate_up_b}, DType::i8),
            DType::bf16);
  EXPECT_EQ(storage_dtype({"model.norm.weight", {4096}, TensorRole::final_norm}, DType::f32),
            DType::f32);
}

// mxfp4: the experts' matrices as gpt-oss ships them (4.25 bits per weight),
// everything else bf16: the planner's bytes are the released files' bytes —
// the sum over the file tensors of the MXFP4 layout (uint8 blocks and scales,
// BF16 elsewhere), and gpt-oss-20b's model.safetensors.index.json total_size.
TEST(MemoryModel, Mxfp4WeightBytesAreTheReleasedFilesBytes) {
  for (const char* name : {"gpt-oss-20b", "gpt-oss-120b"}) {
    const ModelConfig c = ModelConfig::load(name);
    uint64_t planned = 0, files = 0;
    for (const TensorInfo& t : tensor_inventory(c)) {
      planned += weight_bytes(t.shape, storage_dtype(t, DType::mxfp4));
      for (const FileTensor& f : file_tensors(t, true))
        files += static_cast<uint64_t>(num_elements(f.shape)) *
                 (f.part == FileTensor::mx_blocks || f.part == FileTensor::mx_scales ? 1 : 2);
    }
    EXPECT_EQ(planned, files) << name;
    if (std::string(name) == "gpt-oss-20b") EXPECT_EQ(planned, 13761264768u);
  }
  // A dense model has no experts: mxfp4 is then bf16 throughout.
  EXPECT_EQ(storage_dtype({"q", {4096, 4096}, TensorRole::q}, DType::mxfp4), DType::bf16);
  EXPECT_EQ(storage_dtype({"e", {32, 5760, 2880}, TensorRole::experts_gate_up}, DType::mxfp4),
            DType::mxfp4);
  EXPECT_EQ(storage_dtype({"b", {32, 5760}, TensorRole::experts_gate_up_b}, DType::mxfp4),
            DType::bf16);
  EXPECT_EQ(weight_bytes({32, 5760, 2880}, DType::mxfp4), 32ull * 5760 * (1440 + 90));
}

TEST(MemoryModel, KvBytesPerTokenAndSequence) {
  // Llama-2-7B in bf16: 2 (K,V) x 32 layers x 32 heads x 128 x 2 B = 524,288 B per token.
  const ModelConfig l7 = ModelConfig::load("llama-2-7b");
  EXPECT_EQ(kv_bytes_per_token(l7, 32, DType::bf16), 524288u);
  EXPECT_EQ(kv_cache_bytes(l7, 32, 1, 4096, DType::bf16), 524288ull * 4096);         // 2 GiB
  EXPECT_EQ(kv_cache_bytes(l7, 8, 3, 4096, DType::bf16), 3ull * 524288 / 4 * 4096);  // mp = 4
  // int8 KV: 128 bytes + one 2-byte bf16 scale per head and position.
  EXPECT_EQ(kv_bytes_per_token(l7, 32, DType::i8), 2ull * 32 * 32 * 130);
  EXPECT_THROW(kv_bytes_per_token(l7, 32, DType::i4), Error);
  // Llama-3.1-70B (GQA, K = 8): 2 x 80 x 8 x 128 x 2 = 327,680 B per token.
  const ModelConfig l70 = ModelConfig::load("llama-3.1-70b");
  EXPECT_EQ(kv_bytes_per_token(l70, 8, DType::bf16), 327680u);
  // Mistral: every layer holds at most the 4096-position window.
  const ModelConfig mis = ModelConfig::load("mistral-7b-v0.1");
  EXPECT_EQ(kv_cache_bytes(mis, 8, 1, 32768, DType::bf16),
            kv_cache_bytes(mis, 8, 1, 4096, DType::bf16));
  EXPECT_EQ(kv_cache_bytes(mis, 8, 1, 1000, DType::bf16),
            1000ull * kv_bytes_per_token(mis, 8, DType::bf16));
  // gpt-oss-20b: 12 sliding layers hold 128 positions, 12 full layers hold 4096;
  // per layer and position 2 x 8 heads x 64 x 2 B = 2048 B.
  const ModelConfig oss = ModelConfig::load("gpt-oss-20b");
  EXPECT_EQ(kv_cache_bytes(oss, 8, 1, 4096, DType::bf16), 2048ull * (12 * 128 + 12 * 4096));
}

TEST(MemoryModel, ReserveParsing) {
  EXPECT_EQ(Reserve().for_capacity(1000), 100u);  // 10% default
  EXPECT_EQ(Reserve::parse("5%").for_capacity(2000), 100u);
  EXPECT_EQ(Reserve::parse("0.25").for_capacity(400), 100u);
  EXPECT_EQ(Reserve::parse("2GiB").for_capacity(1ull << 40), 2ull << 30);
  EXPECT_EQ(Reserve::parse("0").for_capacity(1ull << 40), 0u);
  EXPECT_THROW(Reserve::parse("150%"), Error);
  EXPECT_THROW(Reserve::parse("lots"), Error);
}

TEST(MemoryModel, MaxBatchAndLongestSequenceAreTight) {
  // For random capacities the max batch fits and one more does not.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> cap(20ull << 30, 80ull << 30);
  const ModelConfig c = ModelConfig::load("llama-2-7b");
  const MeshLayout layout = make_layout(c, dp_mp_mesh(1, 2), DType::bf16);
  std::vector<int64_t> batches;
  for (int i = 0; i < 8; ++i) {
    MemorySettings s;
    s.capacity = cap(rng);
    s.kv_dtype = DType::bf16;
    s.prefill_chunk = 512;
    const int64_t b = max_batch_local(c, layout, s, 4096);
    ASSERT_GT(b, 0);
    EXPECT_TRUE(memory_for(c, layout, s, b, 4096).fits());
    EXPECT_FALSE(memory_for(c, layout, s, b + 1, 4096).fits());
    const int64_t S = max_seq_len(c, layout, s, b, c.max_position_embeddings);
    EXPECT_GE(S, 4096);
    EXPECT_TRUE(memory_for(c, layout, s, b, S).fits());
    if (S < c.max_position_embeddings) {
      EXPECT_FALSE(memory_for(c, layout, s, b, S + 1).fits());
    }
    batches.push_back(b);
  }
  std::sort(batches.begin(), batches.end());
  EXPECT_LT(batches.front(), batches.back()) << "capacities vary, so do batches";
}

TEST(MemoryModel, BreakdownAddsTheRuntimeBuffers) {
  const ModelConfig c = ModelConfig::load("llama-2-7b");
  const MeshLayout layout = make_layout(c, dp_mp_mesh(2, 2), DType::bf16);
  MemorySettings s;
  s.capacity = 32ull << 30;
  s.kv_dtype = DType::bf16;
  s.prefill_chunk = 512;
  const MemoryBreakdown m = memory_for(c, layout, s, 5, 4096);
  EXPECT_EQ(m.weights, layout.weight_bytes);
  EXPECT_EQ(m.kv_cache, 5ull * 524288 / 2 * 4096);
  ActivationShape a{5, 512, 512, 4096, true};
  EXPECT_EQ(m.activations, activation_bytes(c, layout.local, a));
  EXPECT_EQ(m.comm, 512ull * 4096 * 4);  // one fp32 [rows, D] all-reduce buffer
  EXPECT_EQ(m.reserve, static_cast<uint64_t>(std::llround(0.1 * (32ull << 30))));
  EXPECT_EQ(m.used(), m.weights + m.kv_cache + m.activations + m.comm + m.reserve);
  // mp = 1 needs no comm buffer; rows grow with the batch beyond the chunk.
  const MeshLayout one = make_layout(c, dp_mp_mesh(1, 1), DType::bf16);
  EXPECT_EQ(memory_for(c, one, s, 1, 4096).comm, 0u);
  EXPECT_EQ(activation_shape(700, 4096, 512).rows, 700);
  EXPECT_EQ(activation_shape(3, 100, 512).query_tokens, 100);
}

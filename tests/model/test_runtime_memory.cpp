// Memory: on every rank, the measured peaks of weights and KV cache equal the
// planner's prediction for the same plan, activations are within 10% of it
// (the runtime allocates exactly planner/activations.h's list, so they are
// equal too) and the all-reduce staging buffer equals the comm prediction.
// No heap allocation in the decode loop: operator new is counted in this
// binary, and decode steps (and generation, whatever its length) allocate nothing.
// The counting operator new below hands out malloc'ed memory; GCC cannot see
// that the matching operator delete frees it with free() and warns.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <cstdlib>
#include <new>
#include <nlohmann/json.hpp>

#include "planner/layout.h"
#include "runtime_test_util.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace meshlm::test {
namespace {

ModelConfig synthetic_config() {
  return ModelConfig::from_hf_json({{"model_type", "qwen2"},
                                    {"hidden_size", 96},
                                    {"intermediate_size", 160},
                                    {"num_hidden_layers", 3},
                                    {"num_attention_heads", 8},
                                    {"num_key_value_heads", 2},
                                    {"vocab_size", 300},
                                    {"max_position_embeddings", 128},
                                    {"tie_word_embeddings", false}},
                                   "qwen2-small");
}

void expect_memory_matches_plan(Deployment& d, const std::vector<std::vector<int32_t>>& prompts) {
  GenerateOptions o;
  o.max_new_tokens = 10;
  generate(*d.engine, *d.mesh, prompts, o);
  const DeviceMemory& m = *d.memory;
  const auto& want = d.plan.predicted_bytes;
  EXPECT_EQ(m.peak(MemCategory::weights), want.at("weights"));
  EXPECT_EQ(m.peak(MemCategory::kv_cache), want.at("kv_cache"));
  const double act = static_cast<double>(m.peak(MemCategory::activations));
  EXPECT_NEAR(act, static_cast<double>(want.at("activations")), 0.10 * want.at("activations"));
  EXPECT_EQ(m.peak(MemCategory::activations), want.at("activations"));
  EXPECT_EQ(m.peak(MemCategory::comm), want.at("comm"));
  EXPECT_GT(want.at("weights"), 0u);
  EXPECT_GT(want.at("kv_cache"), 0u);
  // The runtime's per-device dimensions are the planner's.
  const LocalDims mine = d.engine->layout().local_dims(),
                  planned = make_layout(d.engine->config(), d.plan.mesh, d.plan.weight_dtype).local;
  EXPECT_EQ(mine.heads, planned.heads);
  EXPECT_EQ(mine.kv_heads, planned.kv_heads);
  EXPECT_EQ(mine.intermediate, planned.intermediate);
  EXPECT_EQ(mine.vocab, planned.vocab);
  // Generation allocated nothing beyond what loading did.
  EXPECT_EQ(m.peak(), m.in_use());
}

TEST(RuntimeMemory, MeasuredPeaksEqualThePlannersPrediction) {
  const auto stories = open_checkpoint(testdata("stories260K.bin"));
  const auto synth = synthetic_config();
  const auto synthetic = synthetic_checkpoint(synth, 5);
  auto qj = synth.to_hf_json();
  qj["hidden_size"] = 128;
  qj["intermediate_size"] = 256;
  qj["head_dim"] = 16;
  const auto quantizable = synthetic_checkpoint(ModelConfig::from_hf_json(qj, "quantizable"), 6);
  for (const std::string& shape : meshes_of_world()) {
    SCOPED_TRACE("mesh " + shape);
    {
      Deployment d(MPI_COMM_WORLD, shape, *stories, 4, 256);
      expect_memory_matches_plan(d, {{1}, {1, 300}, {1, 72, 101}, {1, 500, 2}});
    }
    for (DType w : {DType::f32, DType::bf16}) {
      Deployment d(MPI_COMM_WORLD, shape, *synthetic, 3, 96, w, DType::bf16, 16);
      expect_memory_matches_plan(d, {{5, 6, 7}, {9}, {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                      11, 12, 13, 14, 15, 16, 17, 18, 19, 20}});
    }
    // Quantized weights (block scales included) and an int8 KV cache (a scale
    // per head and position), on a model whose input splits hold whole blocks.
    for (DType w : {DType::i8, DType::i4}) {
      Deployment d(MPI_COMM_WORLD, shape, *quantizable, 3, 96, w, DType::i8, 16);
      expect_memory_matches_plan(d, {{5, 6, 7}, {9}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}});
    }
  }
}

TEST(RuntimeMemory, DecodeStepsAllocateNothing) {
  const auto ckpt = synthetic_checkpoint(synthetic_config(), 9);
  for (const std::string& shape : meshes_of_world())
    for (DType weights : {DType::f32, DType::bf16}) {
      SCOPED_TRACE("mesh " + shape + ", weights " + dtype_name(weights));
      Deployment d(MPI_COMM_WORLD, shape, *ckpt, 4, 128, weights);
      Engine& e = *d.engine;
      const ShardLayout& L = e.layout();
      std::vector<std::vector<int32_t>> prompts = {{3, 4, 5}, {6}, {7, 8}, {9, 10, 11, 12}};
      std::vector<SlotTokens> mine;
      std::vector<int32_t> slots, tokens;
      for (size_t g = L.dp_index; g < prompts.size(); g += L.dp) {
        mine.push_back({static_cast<int32_t>(g / L.dp), prompts[g]});
        slots.push_back(static_cast<int32_t>(g / L.dp));
        tokens.push_back(static_cast<int32_t>(g));
      }
      e.prefill(mine);
      e.decode_step(slots, tokens);  // warm-up (first use of the collectives' scratch)
      const uint64_t in_use = d.memory->in_use(), peak = d.memory->peak();
      Rng rng(42);
      const long before = g_allocations.load();
      for (int step = 0; step < 20; ++step) {
        e.decode_step(slots, tokens);
        for (size_t i = 0; i < slots.size(); ++i)
          tokens[i] =
              sample(e.logits(static_cast<int64_t>(i)), SamplingParams{0.8f, 10, 0.9f}, rng);
        e.decode_step(slots, tokens, Logits::sharded);
        e.greedy_tokens(tokens);
      }
      EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations in 40 decode steps";
      EXPECT_EQ(d.memory->in_use(), in_use);
      EXPECT_EQ(d.memory->peak(), peak);

      // generate(): its allocations do not grow with the number of decode steps.
      GenerateOptions o;
      o.stop_ids = {};
      auto count = [&](int64_t n) {
        o.max_new_tokens = n;
        const long b = g_allocations.load();
        generate(e, *d.mesh, prompts, o);
        return g_allocations.load() - b;
      };
      count(4);  // warm-up
      const long short_run = count(4), long_run = count(40);
      EXPECT_EQ(long_run, short_run) << "generate allocated per decode step";
    }
}

}  // namespace
}  // namespace meshlm::test

// The serving engine end to end without HTTP: the real Coordinator, scheduler,
// paged KV cache, executor and lockstep loop on every mesh of the job's ranks
// (1x1; 1x2, 2x1; 1x4, 2x2, 4x1), fed many concurrent greedy requests on the
// real stories260K checkpoint. Each request's ids must be those of the same
// prompt generated alone on one device with the static KV cache — whatever
// ran beside it, however its prompt was chunked, shared or preempted.
#include <atomic>
#include <thread>

#include "../model/runtime_test_util.h"
#include "model/io/tokenizer.h"
#include "serve/coordinator.h"
#include "serve/serve_loop.h"

namespace meshlm::test {
namespace {

struct Case {
  std::vector<int32_t> prompt;
  int64_t max_tokens;
};

// Prompts of 1..40 tokens, several sharing a 35-token prefix (two full blocks
// of 16: the prefix cache hits), outputs of 10..120 tokens.
std::vector<Case> cases() {
  std::vector<int32_t> shared = {1};
  for (int i = 0; i < 34; ++i) shared.push_back(static_cast<int32_t>(260 + (i * 37) % 240));
  std::vector<Case> out;
  for (int i = 0; i < 14; ++i) {
    std::vector<int32_t> p;
    if (i % 3 == 0) {
      p = shared;
      p.push_back(static_cast<int32_t>(300 + i));
    } else {
      p.push_back(1);
      for (int t = 0; t < i * 3 % 11; ++t) p.push_back(static_cast<int32_t>(100 + 17 * i + 5 * t));
    }
    out.push_back({p, 10 + (i * 29) % 111});
  }
  return out;
}

// Single-device reference: each prompt alone, static KV cache.
std::vector<std::vector<int32_t>> expected(const Checkpoint& ckpt, const std::vector<Case>& cs) {
  Deployment one(MPI_COMM_SELF, "1x1", ckpt, 1, 512);
  std::vector<std::vector<int32_t>> out;
  for (const Case& c : cs) {
    GenerateOptions o;
    o.max_new_tokens = c.max_tokens;
    out.push_back(generate(*one.engine, *one.mesh, {c.prompt}, o).sequences[0].generated_ids);
  }
  return out;
}

struct Settings {
  int64_t max_num_seqs, batched_tokens, seq_len, kv_blocks;
  bool prefix_caching;
};

void serve_and_check(const Checkpoint& ckpt, const std::string& shape, const Settings& s,
                     const std::vector<Case>& cs, const std::vector<std::vector<int32_t>>& want) {
  SCOPED_TRACE("mesh " + shape + ", " + std::to_string(s.max_num_seqs) + " seqs, " +
               std::to_string(s.batched_tokens) + " tokens/step, " + std::to_string(s.kv_blocks) +
               " blocks, prefix caching " + std::to_string(s.prefix_caching));
  DeviceMesh mesh(MPI_COMM_WORLD, AbstractMesh::parse(shape));
  DeviceMemory memory(uint64_t{1} << 30, mesh.rank());
  const int64_t dp = mesh.abstract().axis_size("dp");
  const Plan plan = make_plan(ckpt.config(), mesh.abstract(), s.max_num_seqs * dp, s.seq_len);
  const PagedKvGeometry g = paged_kv_geometry(ckpt.config(), 1, 16, s.seq_len, DType::f32);
  const KvPaging paging{16, s.kv_blocks, s.max_num_seqs * g.window_blocks};
  Engine engine(ckpt, plan, mesh, memory, {}, paging);

  ServeOptions so;
  so.model_name = "stories260K";
  so.dp = dp;
  so.scheduler = {s.max_num_seqs, s.batched_tokens, s.seq_len,       16,
                  s.kv_blocks,    s.prefix_caching, g.window_blocks, paging.num_window_blocks};
  if (g.window_blocks > 0) EXPECT_EQ(engine.kv_cache().geometry().window_blocks, g.window_blocks);
  so.vocab_size = ckpt.config().vocab_size;
  ServerMetrics metrics;
  std::atomic<bool> stop{false};
  if (mesh.rank() != 0) {
    serve_loop(engine, mesh, nullptr, stop);
    return;
  }
  Coordinator coordinator(so, nullptr, metrics);
  std::vector<std::shared_ptr<Request>> requests;
  std::thread clients([&] {
    auto wait = [](Request& r) {
      std::unique_lock lock(r.m);
      r.cv.wait(lock, [&] { return r.done(); });
    };
    // The first (shared-prefix) request alone, so that its full blocks are in
    // the prefix cache when the others arrive, all at once.
    for (const Case& c : cs) {
      CompletionRequest r;
      r.prompt_ids = c.prompt;
      r.max_tokens = c.max_tokens;
      r.temperature = 0;
      requests.push_back(coordinator.submit(r));
      if (requests.size() == 1) wait(*requests[0]);
    }
    for (auto& r : requests) wait(*r);
    stop = true;
  });
  serve_loop(engine, mesh, &coordinator, stop);
  clients.join();
  ASSERT_EQ(requests.size(), cs.size());
  for (size_t i = 0; i < cs.size(); ++i) {
    EXPECT_EQ(requests[i]->generated, want[i]) << "request " << i;
    EXPECT_EQ(requests[i]->finish_reason.value_or(""), "length") << "request " << i;
  }
  std::lock_guard lock(metrics.m);
  for (int64_t used : metrics.blocks_used) EXPECT_EQ(used, 0) << "KV blocks leaked";
  if (s.prefix_caching) EXPECT_GT(metrics.prefix_hits, 0);
  if (s.kv_blocks < 32) EXPECT_GT(metrics.preemptions, 0u) << "the small pool should preempt";
}

TEST(ServingEngine, ConcurrentRequestsGiveTheIdsOfEachAloneOnEveryMesh) {
  const auto ckpt = open_checkpoint(testdata("stories260K.bin"));
  const auto cs = cases();
  const auto want = expected(*ckpt, cs);
  for (const std::string& shape : meshes_of_world()) {
    // Roomy: every request admitted at once, whole prompts per step.
    serve_and_check(*ckpt, shape, {16, 256, 512, 512, true}, cs, want);
    // Tight: chunked prefill (7 tokens a step) and a pool of 18 blocks (the
    // least a 256-position sequence needs, +2), which four sequences of up to
    // 143 positions (9 blocks each) overflow: preemption and recompute. No
    // prefix sharing.
    serve_and_check(*ckpt, shape, {4, 7, 256, 18, false}, cs, want);
  }
}

// A sliding-window model (stories260K's shape, random weights, window 24 on
// every other layer): the window layers read rings of blocks from a pool of
// their own; the ids are those of the static ring buffer of generate.
TEST(ServingEngine, SlidingWindowLayersReadRingsOfBlocks) {
  ModelConfig c = open_checkpoint(testdata("stories260K.bin"))->config();
  c.sliding_window = 24;
  c.layer_types.clear();
  for (int64_t l = 0; l < c.num_layers; ++l)
    c.layer_types.push_back(l % 2 ? "full_attention" : "sliding_attention");
  const auto ckpt = synthetic_checkpoint(c, 5);
  const auto cs = cases();
  const auto want = expected(*ckpt, cs);
  for (const std::string& shape : meshes_of_world()) {
    serve_and_check(*ckpt, shape, {16, 256, 512, 512, false}, cs, want);
    serve_and_check(*ckpt, shape, {4, 7, 256, 18, false}, cs, want);
  }
}

}  // namespace
}  // namespace meshlm::test

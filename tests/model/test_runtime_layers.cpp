// Every sharded layer against its unsharded twin: column-parallel linear,
// row-parallel linear + all-reduce, vocab-parallel embedding, the attention
// block (GQA over the sharded KV cache, KV heads replicated when mp > K) and
// the MLP block — each on every mesh of the job's ranks, against the same
// layer with whole tensors on one device (MPI_COMM_SELF).
#include <cstring>
#include <random>

#include "model/gather_values.h"
#include "model/layers.h"
#include "runtime_test_util.h"

namespace meshlm::test {
namespace {

// One device's share of a model and the buffers a block runs in.
struct Rig {
  std::unique_ptr<DeviceMesh> mesh;
  std::unique_ptr<DeviceMemory> memory;
  Plan plan;
  ShardLayout layout;
  std::unique_ptr<Rope> rope;
  ModelWeights w;
  std::unique_ptr<KVCache> kv;
  std::unique_ptr<Workspace> ws;

  Rig(MPI_Comm comm, const std::string& shape, const Checkpoint& ckpt) {
    mesh = std::make_unique<DeviceMesh>(comm, AbstractMesh::parse(shape));
    memory = std::make_unique<DeviceMemory>(uint64_t{1} << 30, mesh->rank());
    const int dp = mesh->abstract().axis_size("dp");
    plan = make_plan(ckpt.config(), mesh->abstract(), 2 * dp, 32);
    layout = runtime_layout(ckpt.config(), plan, mesh->coords());
    rope = std::make_unique<Rope>(ckpt.config());
    w = load_weights(ckpt, plan, mesh->coords(), *memory);
    kv = std::make_unique<KVCache>(*memory, ckpt.config(), layout);
    ws = std::make_unique<Workspace>(*memory, ckpt.config(), layout.local_dims(),
                                     layout.activation_shape(), layout.mp);
  }
  const AxisGroup& mp() const { return mesh->axis("mp"); }
  BlockContext ctx(const ModelConfig& c) { return {c, layout, *rope, *ws, *kv, mp()}; }
};

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Sharded result (this device's columns [col0, col0 + cols) of a [n, width]
// tensor) against the whole tensor from the twin.
void expect_close(const float* got, const std::vector<float>& want, int64_t n, int64_t width,
                  int64_t col0, int64_t cols, const std::string& what) {
  double worst = 0, scale = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double w = want[static_cast<size_t>(r * width + col0 + c)];
      worst = std::max(worst, std::abs(got[r * cols + c] - w));
      scale = std::max(scale, std::abs(w));
    }
  EXPECT_GT(scale, 0.01) << what << ": degenerate reference";
  EXPECT_LE(worst, 1e-5 * std::max(1.0, scale)) << what;
}

// Every rank of the mp group holds the same bits.
void expect_identical_over_mp(const Rig& rig, const float* data, size_t n) {
  std::vector<float> mine(data, data + n);
  const auto all = all_gather_values(rig.mp(), mine);
  for (int r = 1; r < rig.mp().size; ++r)
    EXPECT_EQ(0,
              std::memcmp(all.data(), all.data() + static_cast<size_t>(r) * n, n * sizeof(float)))
        << "mp rank " << r << " differs from mp rank 0";
}

std::vector<ModelConfig> configs() {
  nlohmann::json base = {{"model_type", "llama"},    {"hidden_size", 64},
                         {"intermediate_size", 128}, {"num_hidden_layers", 1},
                         {"num_attention_heads", 8}, {"num_key_value_heads", 4},
                         {"vocab_size", 256},        {"max_position_embeddings", 32}};
  nlohmann::json qwen = base;
  qwen["model_type"] = "qwen2";     // q/k/v biases
  qwen["num_key_value_heads"] = 2;  // replicated KV heads on mp 4
  return {ModelConfig::from_hf_json(base, "llama-kv4"),
          ModelConfig::from_hf_json(qwen, "qwen2-kv2")};
}

TEST(RuntimeLayers, ShardedLinearsAndEmbeddingMatchTheirTwins) {
  for (const ModelConfig& c : configs()) {
    const auto ckpt = synthetic_checkpoint(c, 13);
    Rig full(MPI_COMM_SELF, "1x1", *ckpt);
    const LayerWeights& fw = full.w.layers[0];
    const int64_t n = 5, D = c.hidden_size, hd = c.head_dim, H = c.num_heads,
                  I = c.intermediate_size;
    const auto x = random_vector(static_cast<size_t>(n * std::max(D, H * hd)), 1);
    for (const std::string& shape : meshes_of_world()) {
      SCOPED_TRACE(c.name + " on mesh " + shape);
      Rig rig(MPI_COMM_WORLD, shape, *ckpt);
      const ShardLayout& L = rig.layout;
      const LayerWeights& lw = rig.w.layers[0];

      // Column-parallel q_proj (+ bias) and up_proj: this device's output columns.
      std::vector<float> want(static_cast<size_t>(n * H * hd)), got(want.size());
      column_parallel_linear(x.data(), n, fw[TensorRole::q], &fw[TensorRole::q_bias], want.data());
      column_parallel_linear(x.data(), n, lw[TensorRole::q], &lw[TensorRole::q_bias], got.data());
      expect_close(got.data(), want, n, H * hd, L.q_heads.begin * hd, L.q_heads.size * hd,
                   "q_proj");
      want.assign(static_cast<size_t>(n * I), 0);
      got.assign(want.size(), 0);
      column_parallel_linear(x.data(), n, fw[TensorRole::up], nullptr, want.data());
      column_parallel_linear(x.data(), n, lw[TensorRole::up], nullptr, got.data());
      expect_close(got.data(), want, n, I, L.ffn.begin, L.ffn.size, "up_proj");

      // Row-parallel o_proj: this device's input columns, all-reduced.
      std::vector<float> xl;
      for (int64_t r = 0; r < n; ++r)
        xl.insert(xl.end(), x.begin() + r * H * hd + L.q_heads.begin * hd,
                  x.begin() + r * H * hd + L.q_heads.end() * hd);
      want.assign(static_cast<size_t>(n * D), 0);
      std::vector<float> local(want.size()), out(want.size());
      row_parallel_linear(x.data(), n, fw[TensorRole::o], nullptr, false, full.mp(), want.data(),
                          want.data());
      row_parallel_linear(xl.data(), n, lw[TensorRole::o], nullptr, L.attn_partial, rig.mp(),
                          local.data(), out.data());
      EXPECT_EQ(L.attn_partial, L.mp > 1);
      expect_close(out.data(), want, n, D, 0, D, "o_proj (all-reduced)");
      expect_identical_over_mp(rig, out.data(), out.size());

      // Vocab-parallel embedding: tokens of every shard, exact.
      std::vector<int32_t> tokens;
      for (int32_t t = 0; t < c.vocab_size; t += 37) tokens.push_back(t);
      const int64_t m = static_cast<int64_t>(tokens.size());
      std::vector<float> e_want(static_cast<size_t>(m * D)), e_got(e_want.size());
      embedding_lookup(tokens.data(), m, full.w[TensorRole::embed], false, full.mp(),
                       e_want.data());
      embedding_lookup(tokens.data(), m, rig.w[TensorRole::embed], L.embed_sharded, rig.mp(),
                       e_got.data());
      EXPECT_EQ(L.embed_sharded, L.mp > 1);
      EXPECT_EQ(e_got, e_want);
    }
  }
}

TEST(RuntimeLayers, AttentionAndMlpBlocksMatchTheirTwins) {
  for (const ModelConfig& c : configs()) {
    const auto ckpt = synthetic_checkpoint(c, 29);
    Rig full(MPI_COMM_SELF, "1x1", *ckpt);
    const int64_t D = c.hidden_size;
    // Prefill rows of two sequences (4 and 3 tokens), then a decode step of both.
    const std::vector<TokenRow> prefill = {{0, 0, 0}, {0, 0, 1}, {0, 0, 2}, {0, 0, 3},
                                           {0, 1, 0}, {0, 1, 1}, {0, 1, 2}};
    const std::vector<TokenRow> decode = {{0, 0, 4}, {0, 1, 3}};
    for (const std::string& shape : meshes_of_world()) {
      SCOPED_TRACE(c.name + " on mesh " + shape);
      Rig rig(MPI_COMM_WORLD, shape, *ckpt);
      if (c.num_kv_heads < rig.layout.mp) {
        EXPECT_EQ(rig.layout.kv_heads.size, 1);  // KV heads replicated
      }
      uint32_t seed = 100;
      for (const auto* rows : {&prefill, &decode}) {
        const int64_t n = static_cast<int64_t>(rows->size());
        const auto x = random_vector(static_cast<size_t>(n * D), seed++);
        for (Rig* r : {&full, &rig}) std::copy(x.begin(), x.end(), r->ws->x);
        attention_block(full.ctx(c), 0, full.w.layers[0], rows->data(), n);
        attention_block(rig.ctx(c), 0, rig.w.layers[0], rows->data(), n);
        const std::vector<float> want(full.ws->x, full.ws->x + n * D);
        expect_close(rig.ws->x, want, n, D, 0, D, "attention block");
        expect_identical_over_mp(rig, rig.ws->x, static_cast<size_t>(n * D));

        mlp_block(full.ctx(c), full.w.layers[0], n);
        mlp_block(rig.ctx(c), rig.w.layers[0], n);
        const std::vector<float> want2(full.ws->x, full.ws->x + n * D);
        expect_close(rig.ws->x, want2, n, D, 0, D, "MLP block");
        expect_identical_over_mp(rig, rig.ws->x, static_cast<size_t>(n * D));
      }
    }
  }
}

}  // namespace
}  // namespace meshlm::test

#include "model/engine.h"

#include <algorithm>

#include "collectives/collectives.h"
#include "model/ops/rmsnorm.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

namespace {

void check_mesh(const Plan& plan, const DeviceMesh& mesh) {
  if (!(plan.mesh == mesh.abstract()))
    MESHLM_FAIL("the plan is for mesh " << plan.mesh.shape_string() << " " << plan.mesh.to_string()
                                        << ", but the job's mesh is "
                                        << mesh.abstract().shape_string() << " (" << mesh.size()
                                        << " ranks)");
}

uint64_t free_bytes(const DeviceMemory& memory) {
  return memory.capacity() - std::min(memory.capacity(), memory.in_use());
}

// Weights, activations and comm buffers of this device.
uint64_t fixed_bytes(const ModelConfig& config, const Plan& plan, const ShardLayout& layout) {
  return layout.weight_bytes(config, plan) + layout.activation_bytes(config) +
         layout.comm_bytes(config);
}

PagedKvGeometry geometry_of(const ModelConfig& config, const ShardLayout& layout,
                            int64_t block_size) {
  return paged_kv_geometry(config, layout.kv_heads.size, block_size, layout.seq_len,
                           layout.kv_dtype);
}

uint64_t paged_bytes(const ModelConfig& config, const ShardLayout& layout, const KvPaging& p) {
  const PagedKvGeometry g = geometry_of(config, layout, p.block_size);
  return static_cast<uint64_t>(p.num_blocks) * g.full_block_bytes +
         static_cast<uint64_t>(p.num_window_blocks) * g.window_block_bytes;
}

ShardLayout checked_layout(const ModelConfig& config, const Plan& plan, const DeviceMesh& mesh,
                           const DeviceMemory& memory, const KvPaging& paging) {
  check_mesh(plan, mesh);
  ShardLayout layout = runtime_layout(config, plan, mesh.coords());
  const uint64_t w = layout.weight_bytes(config, plan),
                 kv = paging.paged() ? paged_bytes(config, layout, paging)
                                     : layout.kv_cache_bytes(config),
                 act = fixed_bytes(config, plan, layout) - w;
  const uint64_t free = free_bytes(memory);
  const std::string kv_what =
      paging.paged()
          ? std::to_string(paging.num_blocks) + " + " + std::to_string(paging.num_window_blocks) +
                " window blocks of " + std::to_string(paging.block_size) + " positions"
          : "batch " + std::to_string(layout.batch_local) + " x seq_len " +
                std::to_string(layout.seq_len);
  if (w + kv + act > free)
    MESHLM_FAIL("model " << config.name << " does not fit in device memory on "
                         << mesh.describe_rank() << ": it needs "
                         << format_bytes(static_cast<double>(w + kv + act)) << " (weights "
                         << format_bytes(static_cast<double>(w)) << ", kv_cache "
                         << format_bytes(static_cast<double>(kv)) << " for " << kv_what
                         << ", activations and comm " << format_bytes(static_cast<double>(act))
                         << ") but " << format_bytes(static_cast<double>(free)) << " of "
                         << format_bytes(static_cast<double>(memory.capacity()))
                         << " is free (use more devices, a smaller --seq-len/--batch, bf16 "
                            "weights, or a larger --device-memory)");
  return layout;
}

}  // namespace

KvPaging paged_kv_that_fits(const ModelConfig& config, const Plan& plan, const DeviceMesh& mesh,
                            const DeviceMemory& memory, int64_t block_size, uint64_t reserve) {
  check_mesh(plan, mesh);
  const ShardLayout layout = runtime_layout(config, plan, mesh.coords());
  const PagedKvGeometry g = geometry_of(config, layout, block_size);
  KvPaging p;
  p.block_size = block_size;
  p.num_window_blocks = layout.batch_local * g.window_blocks;  // a ring per slot
  const uint64_t need = fixed_bytes(config, plan, layout) + reserve +
                        static_cast<uint64_t>(p.num_window_blocks) * g.window_block_bytes;
  const uint64_t free = free_bytes(memory);
  if (g.full_block_bytes == 0)  // every layer a ring: the full pool is bookkeeping only
    p.num_blocks = layout.batch_local * g.full_blocks(layout.seq_len);
  else
    p.num_blocks = free > need ? static_cast<int64_t>((free - need) / g.full_block_bytes) : 0;
  return p;
}

Engine::Engine(const Checkpoint& checkpoint, const Plan& plan, const DeviceMesh& mesh,
               DeviceMemory& memory, const LoadProgressFn& progress, const KvPaging& paging)
    : config_(checkpoint.config()),
      plan_(plan),
      mesh_(mesh),
      memory_(memory),
      layout_(checked_layout(config_, plan_, mesh, memory, paging)),
      mp_(mesh.axis("mp")),
      rope_(config_),
      weights_(load_weights(checkpoint, plan_, layout_.coords, memory, progress)),
      kv_(memory, config_, layout_, paging),
      ws_(memory, config_, layout_.local_dims(), layout_.activation_shape(), layout_.mp),
      positions_(static_cast<size_t>(layout_.batch_local), 0),
      rows_(static_cast<size_t>(layout_.rows)),
      tokens_(static_cast<size_t>(layout_.rows)),
      logit_rows_(static_cast<size_t>(layout_.batch_local)),
      candidates_(static_cast<size_t>(layout_.batch_local * (1 + mp_.size))),
      expert_tokens_(static_cast<size_t>(config_.num_layers * config_.num_experts), 0) {}

void Engine::reset_all() {
  std::fill(positions_.begin(), positions_.end(), 0);
}

void Engine::assign(int32_t slot, int64_t position, std::span<const int32_t> blocks,
                    std::span<const int32_t> window_blocks) {
  MESHLM_CHECK(slot >= 0 && slot < layout_.batch_local,
               "slot " << slot << " outside 0.." << layout_.batch_local - 1);
  MESHLM_CHECK(position >= 0 && position < layout_.seq_len,
               "position " << position << " outside 0.." << layout_.seq_len - 1);
  kv_.set_block_table(slot, blocks, window_blocks);
  positions_[static_cast<size_t>(slot)] = position;
}

void Engine::forward(const TokenRow* rows, int64_t n, const int64_t* logit_rows, int64_t m,
                     int64_t out0) {
  const int64_t D = config_.hidden_size, V = config_.vocab_size;
  MESHLM_CHECK(n >= 1 && n <= ws_.rows, "forward of " << n << " rows (1.." << ws_.rows << ")");
  MESHLM_CHECK(m >= 0 && out0 >= 0 && out0 + m <= layout_.batch_local,
               "logit rows " << out0 << ".." << out0 + m << " outside the batch");
  for (int64_t r = 0; r < n; ++r) {
    MESHLM_CHECK(rows[r].token >= 0 && rows[r].token < V,
                 "token id " << rows[r].token << " outside the vocabulary 0.." << V - 1);
    MESHLM_CHECK(rows[r].slot >= 0 && rows[r].slot < layout_.batch_local && rows[r].pos >= 0 &&
                     rows[r].pos < layout_.seq_len,
                 "row at slot " << rows[r].slot << " position " << rows[r].pos << " outside batch "
                                << layout_.batch_local << " x seq_len " << layout_.seq_len);
    tokens_[r] = rows[r].token;
  }
  embedding_lookup(tokens_.data(), n, weights_[TensorRole::embed], layout_.embed_sharded, mp_,
                   ws_.x);
  const BlockContext ctx{config_, layout_, rope_, ws_, kv_, mp_};
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    attention_block(ctx, l, w, rows, n);
    if (config_.is_moe())
      moe_block(ctx, w, n, expert_tokens_.data() + l * config_.num_experts);
    else
      mlp_block(ctx, w, n);
  }
  if (m == 0) return;
  // Final norm of the rows whose logits are wanted, compacted into xb.
  const ShardedTensor& norm = weights_[TensorRole::final_norm];
  for (int64_t i = 0; i < m; ++i)
    rmsnorm(ws_.xb + i * D, ws_.x + logit_rows[i] * D, norm.ptr(), norm.dtype, 1, D,
            static_cast<float>(config_.rms_norm_eps));
  linear(ws_.xb, m, weights_.classifier().view(), ws_.logits + out0 * layout_.vocab.size);
}

LogitsView Engine::logits(int64_t i) {
  MESHLM_CHECK(logits_state_ == LogitsState::gathered,
               "logits read after a pass with Logits::sharded (or after greedy_tokens)");
  MESHLM_CHECK(i >= 0 && i < logits_count_, "logits row " << i << " of " << logits_count_);
  const int64_t Vl = layout_.vocab.size;
  if (layout_.vocab_sharded && mp_.size > 1)
    return LogitsView{ws_.logits_gathered + i * Vl, Vl, logits_count_ * Vl, mp_.size};
  return LogitsView{ws_.logits + i * Vl, Vl, Vl, 1};
}

void Engine::greedy_tokens(std::span<int32_t> out) {
  const int64_t m = logits_count_, Vl = layout_.vocab.size;
  MESHLM_CHECK(logits_state_ != LogitsState::none, "greedy_tokens without a forward pass");
  MESHLM_CHECK(static_cast<int64_t>(out.size()) == m, out.size()
                                                          << " outputs for " << m << " rows");
  logits_state_ = LogitsState::none;
  const bool sharded = layout_.vocab_sharded && mp_.size > 1;
  const std::span<Candidate> mine(candidates_.data(), static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    const int32_t local = argmax(LogitsView{ws_.logits + i * Vl, Vl, Vl, 1});
    out[static_cast<size_t>(i)] = local;
    mine[static_cast<size_t>(i)] = {ws_.logits[i * Vl + local],
                                    static_cast<int32_t>(layout_.vocab.begin + local)};
  }
  if (!sharded) return;
  // [mp][m], mp ranks in vocabulary order, after this rank's own m.
  const std::span<Candidate> all(candidates_.data() + m, static_cast<size_t>(m * mp_.size));
  all_gather(mp_, std::span<const Candidate>(mine), all);
  for (int64_t i = 0; i < m; ++i) {
    const Candidate* best = &all[static_cast<size_t>(i)];
    for (int r = 1; r < mp_.size; ++r) {  // strictly greater: ties keep the lower ids
      const Candidate& c = all[static_cast<size_t>(r * m + i)];
      if (c.value > best->value) best = &c;
    }
    out[static_cast<size_t>(i)] = best->id;
  }
}

void Engine::prefill(std::span<const SlotTokens> prompts, Logits want) {
  const int64_t count = static_cast<int64_t>(prompts.size());
  MESHLM_CHECK(count <= layout_.batch_local,
               count << " prompts for a local batch of " << layout_.batch_local);
  const int64_t chunk = layout_.prefill_chunk, cap = ws_.rows;
  int64_t i = 0, off = 0;
  while (i < count) {
    int64_t n = 0, m = 0, first_done = -1;
    while (n < cap && i < count) {
      const SlotTokens& p = prompts[static_cast<size_t>(i)];
      const int64_t len = static_cast<int64_t>(p.tokens.size());
      MESHLM_CHECK(len >= 1, "empty prompt for slot " << p.slot);
      const int64_t take = std::min({cap - n, len - off, chunk});
      for (int64_t t = 0; t < take; ++t)
        rows_[static_cast<size_t>(n++)] = TokenRow{p.tokens[static_cast<size_t>(off + t)], p.slot,
                                                   positions_[static_cast<size_t>(p.slot)]++};
      off += take;
      if (off < len) break;  // this sequence continues in the next pass
      logit_rows_[static_cast<size_t>(m++)] = n - 1;
      if (first_done < 0) first_done = i;
      ++i;
      off = 0;
    }
    forward(rows_.data(), n, logit_rows_.data(), m, std::max<int64_t>(first_done, 0));
  }
  finish_pass(count, want);
}

void Engine::decode_step(std::span<const int32_t> slots, std::span<const int32_t> tokens,
                         Logits want) {
  const int64_t n = static_cast<int64_t>(slots.size());
  MESHLM_CHECK(tokens.size() == slots.size() && n >= 1 && n <= layout_.batch_local,
               "decode_step of " << n << " slots for a local batch of " << layout_.batch_local);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t s = slots[static_cast<size_t>(i)];
    rows_[static_cast<size_t>(i)] =
        TokenRow{tokens[static_cast<size_t>(i)], s, positions_[static_cast<size_t>(s)]++};
    logit_rows_[static_cast<size_t>(i)] = i;
  }
  forward(rows_.data(), n, logit_rows_.data(), n, 0);
  finish_pass(n, want);
}

void Engine::finish_pass(int64_t m, Logits want) {
  logits_count_ = m;
  logits_state_ = want == Logits::gathered ? LogitsState::gathered : LogitsState::sharded;
  if (want == Logits::gathered && layout_.vocab_sharded && mp_.size > 1)
    all_gather(mp_, ws_.logits, ws_.logits_gathered, static_cast<size_t>(m * layout_.vocab.size),
               DType::f32);
}

}  // namespace meshlm

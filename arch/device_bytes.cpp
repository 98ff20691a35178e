#include "arch/device_bytes.h"

#include <algorithm>

#include "sharding/checked.h"
#include "sharding/error.h"

namespace meshlm {

std::vector<BufferSpec> activation_buffers(const ModelConfig& c, const LocalDims& l,
                                           const ActivationShape& s) {
  const int64_t n = s.rows, D = c.hidden_size, hd = c.head_dim;
  // gpt_oss computes gate and up in one [rows, 2 I_l] product.
  const int64_t gate_factor = family_info(c.family).ffn == FeedForward::gpt_oss ? 2 : 1;
  // Sizes come from files and flags (batch, seq_len, chunk): checked products.
  auto elems = [](std::initializer_list<int64_t> dims, const char* name) {
    return checked_product(dims, std::string("activation buffer '") + name + "'");
  };
  std::vector<BufferSpec> b = {
      {"x", elems({n, D}, "x")},                                          // [rows, D] residual
      {"xb", elems({n, D}, "xb")},                                        // [rows, D] normed
      {"partial", elems({n, D}, "partial")},                              // [rows, D] o/down out
      {"q", elems({n, l.heads, hd}, "q")},                                // [rows, H_l*hd]
      {"k", elems({n, l.kv_heads, hd}, "k")},                             // [rows, K_l*hd]
      {"v", elems({n, l.kv_heads, hd}, "v")},                             // [rows, K_l*hd]
      {"attn", elems({n, l.heads, hd}, "attn")},                          // [rows, H_l*hd]
      {"scores", elems({l.heads, s.query_tokens, s.seq_len}, "scores")},  // [H_l, T, S]
      {"gate", elems({n, l.intermediate * gate_factor}, "gate")},         // [rows, I_l] (x2)
      {"up", elems({n, l.intermediate}, "up")},                           // [rows, I_l]
      {"logits", elems({s.batch_local, l.vocab}, "logits")},              // [B_l, V_l]
  };
  if (c.is_moe()) {
    const int64_t E = c.num_experts, k = c.experts_per_token;
    b.push_back({"router", elems({n, E}, "router")});                  // [rows, E] logits
    b.push_back({"topk_ids", elems({n, k}, "topk_ids"), DType::i32});  // [rows, k]
    b.push_back({"topk_weights", elems({n, k}, "topk_weights")});      // [rows, k]
    b.push_back({"expert_rows", n, DType::i32});               // [rows] tokens routed to one expert
    b.push_back({"expert_weights", n});                        // [rows] their routing weights
    b.push_back({"expert_in", elems({n, D}, "expert_in")});    // [rows, D] gathered input
    b.push_back({"expert_out", elems({n, D}, "expert_out")});  // [rows, D] one expert's output
  }
  if (role_present(role_info(TensorRole::sinks), c))
    b.push_back({"sinks", l.heads});  // [H_l] the local heads' sinks as fp32
  if (s.gathered_logits && l.vocab != c.vocab_size)
    b.push_back({"logits_gathered", elems({s.batch_local, c.vocab_size}, "logits_gathered")});
  return b;
}

uint64_t activation_bytes(const ModelConfig& c, const LocalDims& l, const ActivationShape& s) {
  uint64_t total = 0;
  for (auto& b : activation_buffers(c, l, s)) {
    checked_mul(b.elements, int64_t{8}, "bytes of activation buffer '" + b.name + "'");
    total = checked_add(total, b.bytes(), "activation bytes");
  }
  return total;
}

bool is_quantized(DType t) {
  return t == DType::i8 || t == DType::i4 || t == DType::mxfp4;
}

DType quant_scale_dtype(DType t) {
  return t == DType::mxfp4 ? DType::u8 : kQuantScaleDType;
}

DType storage_dtype(const TensorInfo& t, DType weight_dtype) {
  const TensorKind kind = role_info(t.role).kind;
  if (weight_dtype == DType::mxfp4)
    return kind == TensorKind::matrix && is_expert_role(t.role) ? DType::mxfp4 : DType::bf16;
  const bool quantizable = kind == TensorKind::matrix || kind == TensorKind::embedding;
  return is_quantized(weight_dtype) && !quantizable ? kQuantScaleDType : weight_dtype;
}

uint64_t weight_bytes(const Shape& shape, DType dtype) {
  const uint64_t n = static_cast<uint64_t>(num_elements(shape));
  if (!is_quantized(dtype) || shape.size() < 2) return dtype_bytes(dtype, n);
  const uint64_t cols = static_cast<uint64_t>(shape.back());
  if (cols == 0) return 0;
  const uint64_t rows = n / cols;
  const uint64_t blocks = (cols + kQuantBlock - 1) / kQuantBlock;
  return rows * (dtype_bytes(dtype, cols) + dtype_bytes(quant_scale_dtype(dtype), blocks));
}

void check_weight_dtype(DType t) {
  if (t == DType::i32 || t == DType::u8)
    MESHLM_FAIL("weight dtype " << dtype_name(t)
                                << " is not a storage type for weights (use fp32, bf16, fp16, "
                                   "int8, int4 or mxfp4)");
}

void check_kv_dtype(DType t) {
  if (t == DType::i4 || t == DType::mxfp4 || t == DType::i32 || t == DType::u8)
    MESHLM_FAIL("KV cache dtype " << dtype_name(t)
                                  << " is not supported (use fp32, bf16, fp16 or int8)");
}

uint64_t kv_bytes_per_head_position(int64_t head_dim, DType t) {
  check_kv_dtype(t);
  const uint64_t data = dtype_bytes(t, static_cast<uint64_t>(head_dim));
  return t == DType::i8 ? data + dtype_bytes(kQuantScaleDType, 1) : data;
}

uint64_t kv_bytes_per_token(const ModelConfig& c, int64_t kv_heads_local, DType t) {
  return static_cast<uint64_t>(
      checked_product({2, c.num_layers, kv_heads_local,
                       static_cast<int64_t>(kv_bytes_per_head_position(c.head_dim, t))},
                      "KV cache bytes per token"));
}

PagedKvGeometry paged_kv_geometry(const ModelConfig& c, int64_t kv_heads_local, int64_t block_size,
                                  int64_t seq_len, DType t) {
  PagedKvGeometry g;
  g.block_size = block_size;
  const int64_t table = g.full_blocks(seq_len);
  const int64_t ring =
      c.sliding_window > 0 ? (c.sliding_window + block_size - 1) / block_size + 1 : 0;
  int64_t full = 0, rings = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool r = c.layer_is_sliding(l) && ring < table;
    g.ring_layer.push_back(r);
    (r ? rings : full) += 1;
  }
  g.window_blocks = rings > 0 ? ring : 0;
  const std::string what = "KV block bytes (block size " + std::to_string(block_size) + ")";
  const auto bytes = [&](int64_t layers) {
    return static_cast<uint64_t>(
        checked_product({2, layers, kv_heads_local, block_size,
                         static_cast<int64_t>(kv_bytes_per_head_position(c.head_dim, t))},
                        what));
  };
  g.full_block_bytes = bytes(full);
  g.window_block_bytes = bytes(rings);
  return g;
}

uint64_t kv_cache_bytes(const ModelConfig& c, int64_t kv_heads_local, int64_t batch_local,
                        int64_t seq_len, DType t) {
  // batch and seq_len come from flags and plan files: checked arithmetic.
  const std::string what = "KV cache bytes (batch " + std::to_string(batch_local) + ", seq_len " +
                           std::to_string(seq_len) + ")";
  int64_t positions = 0;
  for (int64_t l = 0; l < c.num_layers; ++l)
    positions = checked_add(positions, c.kv_positions(l, seq_len), what);
  return static_cast<uint64_t>(
      checked_product({batch_local, 2, kv_heads_local, positions,
                       static_cast<int64_t>(kv_bytes_per_head_position(c.head_dim, t))},
                      what));
}

int64_t effective_chunk(int64_t prefill_chunk, int64_t seq_len) {
  return prefill_chunk <= 0 ? seq_len : std::min(prefill_chunk, seq_len);
}

ActivationShape activation_shape(int64_t batch_local, int64_t seq_len, int64_t prefill_chunk) {
  const int64_t chunk = effective_chunk(prefill_chunk, seq_len);
  ActivationShape s;
  s.batch_local = batch_local;
  s.rows = std::max(chunk, batch_local);
  s.query_tokens = chunk;
  s.seq_len = seq_len;
  s.gathered_logits = true;
  return s;
}

uint64_t comm_buffer_bytes(const ModelConfig& c, int mp, const ActivationShape& s) {
  if (mp == 1) return 0;
  return dtype_bytes(
      DType::f32,
      static_cast<uint64_t>(checked_product({s.rows, c.hidden_size, 4}, "comm buffer") / 4));
}

}  // namespace meshlm

// The bytes one device allocates, per category: weights (storage dtype and
// quantization block scales), KV cache, activation buffers and comm staging.
// One source shared by the planner's memory model (planner/) and the runtime
// that allocates them (model/), so predicted and measured bytes are the same
// (docs/DESIGN.md §6). Activation buffers are allocated once, before prefill,
// and reused by every decode step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "arch/tensor_roles.h"
#include "sharding/dtype.h"
#include "sharding/named_sharding.h"

namespace meshlm {

// Per-device sizes of the dimensions tensor parallelism splits.
struct LocalDims {
  int64_t heads = 0;         // H / mp
  int64_t kv_heads = 0;      // K / mp, or 1 when mp > K and KV heads are replicated
  int64_t intermediate = 0;  // I / mp (gpt_oss: I, experts are split whole)
  int64_t vocab = 0;         // V / mp when lm_head is vocab-sharded, else V
  int64_t experts = 0;       // E / mp for expert-parallel MoE, E for mixtral, 0 when dense
  bool operator==(const LocalDims&) const = default;
};

struct ActivationShape {
  int64_t batch_local = 1;      // sequences on this device (global batch / dp)
  int64_t rows = 1;             // tokens in one forward pass: max(prefill chunk, batch_local)
  int64_t query_tokens = 1;     // tokens of one sequence in one attention call (prefill chunk)
  int64_t seq_len = 1;          // positions the KV cache holds
  bool gathered_logits = true;  // full-vocab logits [batch_local, V] gathered for sampling
};

struct BufferSpec {
  std::string name;  // "x", "q", "scores", ...
  int64_t elements = 0;
  DType dtype = DType::f32;
  uint64_t bytes() const { return dtype_bytes(dtype, static_cast<uint64_t>(elements)); }
};

// Buffer list (shape of each in the .cpp): residual, normed input, q/k/v,
// attention output and scores, FFN hidden, partial-sum output, logits; for
// MoE models the router logits, top-k choices and one expert's gathered
// input and output; for models with attention sinks their fp32 copy.
std::vector<BufferSpec> activation_buffers(const ModelConfig& config, const LocalDims& local,
                                           const ActivationShape& shape);
uint64_t activation_bytes(const ModelConfig& config, const LocalDims& local,
                          const ActivationShape& shape);

inline constexpr int64_t kQuantBlock = 32;
inline constexpr DType kQuantScaleDType = DType::bf16;  // int8, int4 block scales

bool is_quantized(DType t);  // int8, int4, mxfp4: blocks of 32 along the input dimension
// The type of a quantized dtype's per-block scale: bf16 (int8, int4) or
// uint8 (mxfp4's E8M0 exponent: the scale is 2^(e - 127)).
DType quant_scale_dtype(DType t);
// The dtype a tensor is stored in when weights are `weight_dtype`: int8 and
// int4 quantize matrices and embeddings (TensorKind matrix, embedding);
// mxfp4 quantizes the experts' matrices only (as gpt-oss ships); everything
// else (norms, biases, sinks, and for mxfp4 the dense matrices) is bf16.
DType storage_dtype(const TensorInfo& tensor, DType weight_dtype);
// Bytes of a (shard) shape stored in `dtype`, block scales included.
uint64_t weight_bytes(const Shape& shape, DType dtype);
// Throws unless the weight dtype is fp32, bf16, fp16, int8, int4 or mxfp4.
void check_weight_dtype(DType weight_dtype);
// Throws unless the KV dtype is fp32, bf16, fp16 or int8.
void check_kv_dtype(DType kv_dtype);
// Bytes of one head's K (or V) vector at one position, scale included.
uint64_t kv_bytes_per_head_position(int64_t head_dim, DType kv_dtype);
// KV bytes one token adds on a device holding kv_heads_local heads, ignoring
// sliding windows: 2 * L * K_local * hd * bytes.
uint64_t kv_bytes_per_token(const ModelConfig& config, int64_t kv_heads_local, DType kv_dtype);
// KV cache of batch_local sequences of seq_len positions on one device:
// batch_local * sum over layers of 2 * K_local * kv_positions(l, seq_len) * hd * bytes.
uint64_t kv_cache_bytes(const ModelConfig& config, int64_t kv_heads_local, int64_t batch_local,
                        int64_t seq_len, DType kv_dtype);
// A paged KV cache (mesh-run serve, docs/DESIGN.md §4) hands memory out in
// blocks of block_size positions, from two pools on a device: one for the
// full-attention layers (a sequence holds a block per block_size positions it
// has) and one for the sliding-window layers whose window is shorter than the
// sequence (a sequence holds a ring of window_blocks, whatever its length).
inline constexpr int64_t kDefaultKvBlockSize = 16;
struct PagedKvGeometry {
  int64_t block_size = kDefaultKvBlockSize;
  int64_t window_blocks = 0;        // ring per sequence: ceil(window / block_size) + 1; 0 = none
  uint64_t full_block_bytes = 0;    // one block of every full-attention layer (keys and values)
  uint64_t window_block_bytes = 0;  // one block of every ring-buffer layer
  // Whether layer l reads a ring of window blocks (else the full pool).
  std::vector<bool> ring_layer;
  // Blocks of the full pool a sequence of `positions` holds.
  int64_t full_blocks(int64_t positions) const { return (positions + block_size - 1) / block_size; }
  // Device bytes of one sequence of `positions`, both pools.
  uint64_t sequence_bytes(int64_t positions) const {
    return static_cast<uint64_t>(full_blocks(positions)) * full_block_bytes +
           static_cast<uint64_t>(window_blocks) * window_block_bytes;
  }
};
// The geometry for sequences of up to seq_len positions on a device holding
// kv_heads_local KV heads. A sliding layer uses the ring only when its ring
// is shorter than the sequence's block table.
PagedKvGeometry paged_kv_geometry(const ModelConfig& config, int64_t kv_heads_local,
                                  int64_t block_size, int64_t seq_len, DType kv_dtype);

// The activation shape the runtime allocates for: rows = max(chunk, batch_local),
// query tokens = chunk (= min(prefill_chunk, seq_len); 0 means seq_len).
ActivationShape activation_shape(int64_t batch_local, int64_t seq_len, int64_t prefill_chunk);
int64_t effective_chunk(int64_t prefill_chunk, int64_t seq_len);
// fp32 staging buffer [rows, D] for the mp all-reduces; 0 when mp = 1.
uint64_t comm_buffer_bytes(const ModelConfig& config, int mp, const ActivationShape& shape);

}  // namespace meshlm

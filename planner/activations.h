// The activation buffers one device holds during a forward pass — a single
// source of truth shared by the planner's memory model (planner/) and the
// runtime that allocates them (model/), so prediction and measurement describe
// the same thing. All buffers are allocated once, before prefill, and reused by
// every decode step (no allocation in the decode loop).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/model_config.h"
#include "sharding/dtype.h"

namespace meshlm {

// Per-device sizes of the dimensions tensor parallelism splits.
struct LocalDims {
  int64_t heads = 0;         // H / mp
  int64_t kv_heads = 0;      // K / mp, or 1 when mp > K and KV heads are replicated
  int64_t intermediate = 0;  // I / mp
  int64_t vocab = 0;         // V / mp when lm_head is vocab-sharded (after padding), else V
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
// attention output and scores, FFN hidden, partial-sum output, logits.
std::vector<BufferSpec> activation_buffers(const ModelConfig& config, const LocalDims& local,
                                           const ActivationShape& shape);
uint64_t activation_bytes(const ModelConfig& config, const LocalDims& local,
                          const ActivationShape& shape);

}  // namespace meshlm

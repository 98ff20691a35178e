// A deliberately plain reference forward pass to check the sharded runtime
// against: one sequence, unsharded, no KV cache (every call recomputes every
// position), loops with double-precision activations and accumulation. It
// uses nothing of meshlm's kernels or model code — only the Checkpoint API
// (read_tensor_f32) for the weights and ModelConfig for the hyperparameters —
// so that its value is its independence.
//
// Semantics, from the published implementations (Hugging Face transformers
// modeling_llama / modeling_mistral / modeling_qwen2 / modeling_mixtral /
// modeling_gpt_oss and modeling_rope_utils; openai/gpt-oss gpt_oss/torch/model.py):
//   x = embed[token]; per layer x += attn(rmsnorm(x)); x += mlp(rmsnorm(x));
//   logits = lm_head · rmsnorm(x) (lm_head = the embedding when tied).
//   RMSNorm x / sqrt(mean(x²) + eps) · w. Attention: q/k/v projections (+
//   biases when qkv_bias), grouped-query (H / K query heads per KV head),
//   rotate-half RoPE (none, linear, llama3, yarn), scores q·k / sqrt(hd),
//   causal, on sliding layers keys at positions > p − window, gpt_oss sink
//   logits per head; o_proj (+ bias when o_bias). MLP: dense SwiGLU (llama,
//   mistral, qwen2), mixtral's softmax-then-top-k renormalised experts, or
//   gpt_oss's top-k-then-softmax experts with the clamped (u + 1)·g·σ(1.702 g)
//   activation. Experts' tensors are meshlm's logical ones (stacked
//   [E, out, in], arch/tensor_roles.h), read through the Checkpoint.
// Details: tests/common/reference_{forward,attention,rope,ffn}.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/io/checkpoint.h"

namespace meshlm::test {

// Logits [T][V] of every position of one sequence (teacher forcing, causal:
// row p depends on tokens 0..p), computed in double and rounded to float.
// Throws meshlm::Error for a token outside the vocabulary, a tensor whose
// shape is not the one the semantics need, or an unimplemented rope_scaling.
std::vector<std::vector<float>> reference_logits(const Checkpoint& ckpt,
                                                 std::span<const int32_t> tokens);

// `steps` greedy ids after `prompt` (non-empty): the first is the argmax of
// the logits at the prompt's last position, each is then fed at the next
// position (ties go to the lower id). No stop ids: the caller cuts the ids
// at a stop token if it wants the llama2.c loop.
std::vector<int32_t> reference_greedy(const Checkpoint& ckpt, std::span<const int32_t> prompt,
                                      int64_t steps);

}  // namespace meshlm::test

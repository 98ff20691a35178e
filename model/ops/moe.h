// Mixture-of-experts pieces of the mixtral and gpt_oss MLPs, one token at a
// time: routing (which k of E experts, with which weights) and gpt_oss's
// clamped GLU on an expert's fused gate_up output. The expert matmuls are
// ordinary linears (model/ops/linear.h); mixtral's experts use silu_mul
// (model/ops/swiglu.h).
#pragma once

#include <cstdint>

namespace meshlm {

enum class RouterKind {
  // mixtral (HF MixtralSparseMoeBlock): p = softmax over all E logits, keep
  // the top k, renormalise those k to sum to 1.
  softmax_topk,
  // gpt_oss (HF GptOssTopKRouter): keep the top k logits, softmax over them.
  topk_softmax,
};

// Routes one token: logits [num_experts] (the router's output, bias
// included), 1 <= k <= num_experts. Writes ids [k], the chosen experts in
// descending logit order (equal logits: the lower id first), and weights [k],
// fp32, in the same order, summing to 1 (up to rounding).
// NaN: a NaN logit ranks below every number (-inf included), so it is chosen
// only when fewer than k logits are numbers; ids are still k distinct valid
// experts. Weights propagate NaN as HF does: softmax_topk's are all NaN when
// any logit is NaN (the softmax spans all E), topk_softmax's when a chosen
// logit is.
void route(const float* logits, int64_t num_experts, int64_t k, RouterKind kind, int32_t* ids,
           float* weights);

// gpt_oss's expert activation (HF GptOssExperts), for n tokens:
// z [n, 2·inter] holds gate and up INTERLEAVED (gate_i = z[2i], up_i =
// z[2i+1], as gate_up_proj's columns are stored); writes h [n, inter] with
//   g = min(gate, limit), u = clamp(up, -limit, limit),
//   h = (u + 1) · g · sigmoid(1.702 · g).
// limit > 0 is the config's swiglu_limit (7.0 for gpt-oss; INFINITY for no
// clamp). h may not overlap z.
void gpt_oss_glu(const float* z, int64_t n, int64_t inter, float limit, float* h);

}  // namespace meshlm

#include "planner/activations.h"

namespace meshlm {

std::vector<BufferSpec> activation_buffers(const ModelConfig& c, const LocalDims& l,
                                           const ActivationShape& s) {
  const int64_t n = s.rows, D = c.hidden_size, hd = c.head_dim;
  std::vector<BufferSpec> b = {
      {"x", n * D},                                      // [rows, D] residual stream
      {"xb", n * D},                                     // [rows, D] normed input
      {"partial", n * D},                                // [rows, D] o/down output, all-reduced
      {"q", n * l.heads * hd},                           // [rows, H_l*hd]
      {"k", n * l.kv_heads * hd},                        // [rows, K_l*hd]
      {"v", n * l.kv_heads * hd},                        // [rows, K_l*hd]
      {"attn", n * l.heads * hd},                        // [rows, H_l*hd] attention output
      {"scores", l.heads * s.query_tokens * s.seq_len},  // [H_l, T, S] one sequence at a time
      {"gate", n * l.intermediate},                      // [rows, I_l]
      {"up", n * l.intermediate},                        // [rows, I_l]
      {"logits", s.batch_local * l.vocab},               // [B_l, V_l] last position per sequence
  };
  if (s.gathered_logits && l.vocab != c.vocab_size)
    b.push_back({"logits_gathered", s.batch_local * c.vocab_size});  // [B_l, V]
  return b;
}

uint64_t activation_bytes(const ModelConfig& c, const LocalDims& l, const ActivationShape& s) {
  uint64_t total = 0;
  for (auto& b : activation_buffers(c, l, s)) total += b.bytes();
  return total;
}

}  // namespace meshlm

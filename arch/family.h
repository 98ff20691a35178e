// The families meshlm knows (Hugging Face model_type) and what differs
// between them besides their tensor roles (arch/tensor_roles.h): the
// defaults of their HF config classes and which the runtime executes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace meshlm {

enum class Family { llama, mistral, qwen2, mixtral, gpt_oss };

// The feed-forward block of a family (docs/DESIGN.md §5, Families):
//   dense     down(silu(gate x) * up x)
//   mixtral   softmax over all E router logits, top-k renormalised; experts
//             w2(silu(w1 x) * w3 x)
//   gpt_oss   router with bias, softmax over the top-k logits; experts with
//             biases, gate/up interleaved in one matrix, clamped GLU
enum class FeedForward { dense, mixtral, gpt_oss };

struct FamilyInfo {
  Family family;
  const char* model_type;  // HF config.json "model_type"
  // Defaults of the HF *Config class for fields a config.json may omit.
  int64_t max_position_embeddings;
  double rms_norm_eps;
  double rope_theta;
  bool runtime;  // mesh-run executes it (the planner sizes every family)
  FeedForward ffn;
};

const FamilyInfo& family_info(Family family);
std::optional<Family> family_of_model_type(const std::string& model_type);
// "llama, mistral, qwen2, mixtral, gpt_oss" (or only those the runtime runs).
std::string family_list(bool runtime_only = false);
constexpr uint32_t family_bit(Family f) {
  return 1u << static_cast<unsigned>(f);
}

}  // namespace meshlm

// ModelConfig: the architecture of a transformer, read from a Hugging Face
// config.json, a llama2.c checkpoint header, or a name in configs/models/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/family.h"
#include "sharding/dtype.h"

namespace meshlm {

// Limits of what a config may say (docs/DESIGN.md §9, Input limits): every
// dimension (D, I, H, K, hd, V, max positions, window) 1..kMaxDimension
// (sharding/checked.h), layers and experts 1..kMaxLayers, at most kMaxTensors
// tensors, every tensor's elements and the model's fp32 bytes within int64.
inline constexpr int64_t kMaxLayers = int64_t{1} << 16;
inline constexpr int64_t kMaxTensors = int64_t{1} << 20;

// config.json's rope_scaling (docs/DESIGN.md §5, Families). Fields a type
// does not use keep their defaults.
struct RopeScaling {
  std::string type;  // "" = none, "linear", "llama3", "yarn", ...
  double factor = 1.0;
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  int64_t original_max_position_embeddings = 0;  // llama3, yarn
  // yarn: frequencies turning more than beta_fast times over the original
  // context keep their value, fewer than beta_slow times are divided by
  // factor, a linear ramp in between (bounds floored/ceiled when truncate).
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  bool truncate = true;
  double attention_factor = 0.0;  // yarn: cos/sin scale; 0 = derive (0.1 ln factor + 1)
};

struct ModelConfig;
// Throws naming the field and the limit when `c` is beyond the limits above;
// the readers call it (with the other consistency checks) before returning.
void check_limits(const ModelConfig& c, const std::string& where);

struct ModelConfig {
  std::string name;               // file stem or given name
  std::string model_type;         // llama, mistral, qwen2, mixtral, gpt_oss
  Family family = Family::llama;  // of model_type
  int64_t hidden_size = 0;        // D
  int64_t intermediate_size = 0;  // I (per expert for MoE)
  int64_t num_layers = 0;         // L
  int64_t num_heads = 0;          // H
  int64_t num_kv_heads = 0;       // K
  int64_t head_dim = 0;           // hd (config's head_dim, else D / H)
  int64_t vocab_size = 0;         // V
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t sliding_window = 0;  // 0 = none
  bool qkv_bias = false;       // qwen2 (and attention_bias)
  bool o_bias = false;         // gpt_oss (attention_bias)
  int64_t num_experts = 0;     // 0 = dense
  int64_t experts_per_token = 0;
  double swiglu_limit = 7.0;             // gpt_oss: the clamp of its expert GLU
  std::vector<std::string> layer_types;  // gpt_oss: sliding_attention / full_attention
  DType torch_dtype = DType::bf16;
  int64_t bos_token_id = 1;
  // Stop tokens (llama2.c checkpoints: {1}, as the reference loop).
  std::vector<int64_t> eos_token_ids;

  // Throws naming the supported model types when model_type is unknown, and
  // naming the field when one is missing or inconsistent (e.g. H % K != 0).
  static ModelConfig from_hf_json(const nlohmann::json& j, const std::string& name = "");
  // The 7-int32 header of a llama2.c checkpoint (docs/DESIGN.md §5).
  static ModelConfig from_llama2c_header(const int32_t header[7], const std::string& name = "");
  // A config.json path, a directory holding config.json, a llama2.c .bin, or a
  // name in configs/models/.
  static ModelConfig load(const std::string& path_or_name);
  nlohmann::json to_hf_json() const;

  bool is_moe() const { return num_experts > 0; }
  // Does layer l use sliding-window attention (mistral: all layers when
  // sliding_window is set; gpt_oss: layer_types)?
  bool layer_is_sliding(int64_t layer) const;
  // Positions layer l's KV cache must hold for a sequence of seq_len tokens.
  int64_t kv_positions(int64_t layer, int64_t seq_len) const;
};

}  // namespace meshlm

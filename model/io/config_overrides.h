// A model config from a Hugging Face config.json (or a name in
// configs/models/) with some dimensions overridden — how mesh-model make and
// benchmarks describe a model shape that has no file of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "arch/model_config.h"

namespace meshlm {

struct ConfigOverrides {
  std::optional<int64_t> hidden_size;        // --dim
  std::optional<int64_t> intermediate_size;  // --hidden-dim
  std::optional<int64_t> num_layers;         // --layers
  std::optional<int64_t> num_heads;          // --heads
  std::optional<int64_t> num_kv_heads;       // --kv-heads
  std::optional<int64_t> head_dim;    // --head-dim (default: dim / heads when either is overridden)
  std::optional<int64_t> vocab_size;  // --vocab
  std::optional<int64_t> max_position_embeddings;  // --seq-len
  std::optional<bool> tie_word_embeddings;
  std::optional<int64_t> num_experts;        // --experts (MoE)
  std::optional<int64_t> experts_per_token;  // --top-k (MoE)
  std::optional<int64_t> sliding_window;     // --window (0: none)
  std::optional<std::string> name;
};

// `path_or_name`: a config.json, a directory holding one, or a name in
// configs/models/. Overrides are applied to the JSON before it is parsed, so
// every check of ModelConfig::from_hf_json applies to the result.
ModelConfig load_config_with_overrides(const std::string& path_or_name,
                                       const ConfigOverrides& overrides);

}  // namespace meshlm

#include "model/io/config_overrides.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sharding/checked.h"
#include "sharding/device_spec.h"

namespace meshlm {

namespace fs = std::filesystem;

ModelConfig load_config_with_overrides(const std::string& path_or_name, const ConfigOverrides& o) {
  std::string path = path_or_name;
  std::string name;
  if (fs::is_directory(path)) {
    name = fs::absolute(path).lexically_normal().filename().string();
    path = (fs::path(path) / "config.json").string();
  } else {
    path = resolve_config("models", path_or_name);
    name = fs::path(path).stem().string();
    if (name == "config") name = fs::absolute(path).parent_path().filename().string();
  }
  nlohmann::json j = read_json_file(path);
  auto set = [&](const char* key, const auto& value) {
    if (value) j[key] = *value;
  };
  set("hidden_size", o.hidden_size);
  set("intermediate_size", o.intermediate_size);
  set("num_hidden_layers", o.num_layers);
  set("num_attention_heads", o.num_heads);
  set("num_key_value_heads", o.num_kv_heads);
  set("vocab_size", o.vocab_size);
  set("max_position_embeddings", o.max_position_embeddings);
  set("tie_word_embeddings", o.tie_word_embeddings);
  set("num_local_experts", o.num_experts);
  if (o.experts_per_token)  // the key of each family (both: gpt_oss reads either)
    for (const char* key : {"num_experts_per_tok", "experts_per_token"})
      if (j.contains(key) || std::string(key) == "num_experts_per_tok")
        j[key] = *o.experts_per_token;
  if (o.sliding_window) {
    if (*o.sliding_window > 0)
      j["sliding_window"] = *o.sliding_window;
    else
      j["sliding_window"] = nullptr;
  }
  if (o.head_dim)
    j["head_dim"] = *o.head_dim;
  else if (o.hidden_size || o.num_heads)
    j.erase("head_dim");  // back to the default hidden_size / heads
  // Per-layer lists follow the layer count by repeating their pattern.
  if (o.num_layers) check_range(*o.num_layers, kMaxLayers, "--layers");
  if (o.num_layers && j.contains("layer_types") && j["layer_types"].is_array() &&
      !j["layer_types"].empty()) {
    const nlohmann::json old = j["layer_types"];
    j["layer_types"] = nlohmann::json::array();
    for (int64_t l = 0; l < *o.num_layers; ++l) j["layer_types"].push_back(old[l % old.size()]);
  }
  if (o.name) name = *o.name;
  return ModelConfig::from_hf_json(j, name);
}

}  // namespace meshlm

#include "arch/model_config.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "arch/tensor_roles.h"
#include "sharding/checked.h"
#include "sharding/device_spec.h"
#include "sharding/error.h"
#include "sharding/json_field.h"

namespace meshlm {
namespace fs = std::filesystem;

namespace {

std::string where_of(const std::string& name) {
  return name.empty() ? "model config" : "model config '" + name + "'";
}

// An integer field in 1..max (every dimension at most int32, docs/DESIGN.md §9).
int64_t positive(const nlohmann::json& j, const char* key, const std::string& where,
                 int64_t max = kMaxDimension) {
  const int64_t v = json_field<int64_t>(j, key, where);
  if (v < 1 || v > max)
    MESHLM_FAIL(where << ": field '" << key << "' is " << v << " (expected 1.." << max << ")");
  return v;
}

DType dtype_from_hf(const std::string& s, const std::string& where) {
  if (s == "float32") return DType::f32;
  if (s == "bfloat16") return DType::bf16;
  if (s == "float16") return DType::f16;
  try {
    return parse_dtype(s);
  } catch (const Error&) {
    MESHLM_FAIL(where << ": torch_dtype '" << s << "' is not float32, bfloat16 or float16");
  }
}

const char* dtype_to_hf(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::f16:
      return "float16";
    case DType::bf16:
      return "bfloat16";
    default:
      return dtype_name(t);
  }
}

void check_consistent(const ModelConfig& c, const std::string& where) {
  check_limits(c, where);
  if (c.num_heads % c.num_kv_heads != 0)
    MESHLM_FAIL(where << ": num_attention_heads (" << c.num_heads
                      << ") is not a multiple of num_key_value_heads (" << c.num_kv_heads << ")");
  if (c.is_moe() && (c.experts_per_token < 1 || c.experts_per_token > c.num_experts))
    MESHLM_FAIL(where << ": experts per token (" << c.experts_per_token
                      << ") must be between 1 and num_local_experts (" << c.num_experts << ")");
  if (!c.layer_types.empty() && static_cast<int64_t>(c.layer_types.size()) != c.num_layers)
    MESHLM_FAIL(where << ": layer_types has " << c.layer_types.size()
                      << " entries but num_hidden_layers is " << c.num_layers);
  for (auto& t : c.layer_types)
    if (t != "sliding_attention" && t != "full_attention")
      MESHLM_FAIL(where << ": layer_types entry '" << t
                        << "' is not sliding_attention or full_attention");
}

// config.json's rope_scaling object (HF names; `type` is the older spelling
// of `rope_type`). Checks what every type needs (factor > 0) and, for yarn,
// what _compute_yarn_parameters divides by or takes the logarithm of.
RopeScaling rope_scaling_from_hf(const nlohmann::json& rs, const std::string& where) {
  if (!rs.is_object()) MESHLM_FAIL(where << ": rope_scaling must be null or an object");
  const std::string rw = where + " rope_scaling";
  const RopeScaling d;
  RopeScaling r;
  r.type = has_field(rs, "rope_type") ? json_field<std::string>(rs, "rope_type", rw)
                                      : json_field<std::string>(rs, "type", rw);
  r.factor = json_field_or<double>(rs, "factor", d.factor, rw);
  r.low_freq_factor = json_field_or<double>(rs, "low_freq_factor", d.low_freq_factor, rw);
  r.high_freq_factor = json_field_or<double>(rs, "high_freq_factor", d.high_freq_factor, rw);
  r.original_max_position_embeddings = json_field_or<int64_t>(
      rs, "original_max_position_embeddings", d.original_max_position_embeddings, rw);
  r.beta_fast = json_field_or<double>(rs, "beta_fast", d.beta_fast, rw);
  r.beta_slow = json_field_or<double>(rs, "beta_slow", d.beta_slow, rw);
  r.truncate = json_field_or<bool>(rs, "truncate", d.truncate, rw);
  r.attention_factor = json_field_or<double>(rs, "attention_factor", d.attention_factor, rw);
  if (!(r.factor > 0)) MESHLM_FAIL(rw << ": factor is " << r.factor << " (expected > 0)");
  if (r.type != "yarn") return r;
  if (r.original_max_position_embeddings < 1)
    MESHLM_FAIL(rw << ": original_max_position_embeddings is " << r.original_max_position_embeddings
                   << " (yarn needs >= 1)");
  if (!(r.beta_slow > 0)) MESHLM_FAIL(rw << ": beta_slow is " << r.beta_slow << " (expected > 0)");
  if (!(r.beta_fast > r.beta_slow))
    MESHLM_FAIL(rw << ": beta_fast (" << r.beta_fast << ") must be greater than beta_slow ("
                   << r.beta_slow << ")");
  if (has_field(rs, "attention_factor") && !(r.attention_factor > 0))
    MESHLM_FAIL(rw << ": attention_factor is " << r.attention_factor << " (expected > 0)");
  // DeepSeek's variant derives the attention factor from both of these; the
  // runtime does not implement it.
  if (json_field_or<double>(rs, "mscale", 0.0, rw) != 0 &&
      json_field_or<double>(rs, "mscale_all_dim", 0.0, rw) != 0)
    MESHLM_FAIL(rw << ": mscale with mscale_all_dim is not supported (give attention_factor "
                      "instead)");
  return r;
}

}  // namespace

void check_limits(const ModelConfig& c, const std::string& where) {
  const std::pair<const char*, int64_t> dims[] = {
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_position_embeddings}};
  for (auto& [field, v] : dims)
    if (v < 1 || v > kMaxDimension)
      MESHLM_FAIL(where << ": " << field << " is " << v << " (expected 1.." << kMaxDimension
                        << ")");
  if (c.num_layers < 1 || c.num_layers > kMaxLayers)
    MESHLM_FAIL(where << ": num_hidden_layers is " << c.num_layers << " (expected 1.." << kMaxLayers
                      << ")");
  if (c.num_experts < 0 || c.num_experts > kMaxLayers)
    MESHLM_FAIL(where << ": num_local_experts is " << c.num_experts << " (expected 0.."
                      << kMaxLayers << ")");
  if (c.sliding_window < 0 || c.sliding_window > kMaxDimension)
    MESHLM_FAIL(where << ": sliding_window is " << c.sliding_window << " (expected 0.."
                      << kMaxDimension << ")");
  // The inventory is built in memory: bound its length before anyone does.
  const int64_t per_layer = static_cast<int64_t>(kTensorRoleCount) * (1 + c.num_experts);
  if (c.num_layers * per_layer > kMaxTensors)
    MESHLM_FAIL(where << ": " << c.num_layers << " layers of " << per_layer
                      << " tensors at most exceed the " << kMaxTensors
                      << " tensors a model may have");
  // Every tensor's element count, and the model's bytes in fp32, fit int64.
  const uint64_t params = parameter_count(c);
  checked_mul(params, uint64_t{4},
              where + ": bytes of " + std::to_string(params) + " fp32 parameters");
}

ModelConfig ModelConfig::from_hf_json(const nlohmann::json& j, const std::string& name) {
  const std::string where = where_of(name);
  if (!j.is_object()) MESHLM_FAIL(where << " is not a JSON object");
  ModelConfig c;
  c.name = name;
  c.model_type = json_field<std::string>(j, "model_type", where);
  const std::string& t = c.model_type;
  const std::optional<Family> family = family_of_model_type(t);
  if (!family)
    MESHLM_FAIL(where << ": unsupported model_type '" << t << "' (supported: " << family_list()
                      << ")");
  c.family = *family;
  const FamilyInfo& d = family_info(c.family);

  c.hidden_size = positive(j, "hidden_size", where);
  c.intermediate_size = positive(j, "intermediate_size", where);
  c.num_layers = positive(j, "num_hidden_layers", where, kMaxLayers);
  c.num_heads = positive(j, "num_attention_heads", where);
  c.num_kv_heads =
      has_field(j, "num_key_value_heads") ? positive(j, "num_key_value_heads", where) : c.num_heads;
  if (has_field(j, "head_dim")) {
    c.head_dim = positive(j, "head_dim", where);
  } else {
    if (c.hidden_size % c.num_heads != 0)
      MESHLM_FAIL(where << ": hidden_size (" << c.hidden_size
                        << ") is not divisible by num_attention_heads (" << c.num_heads
                        << ") and no head_dim is given");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.vocab_size = positive(j, "vocab_size", where);
  c.max_position_embeddings = has_field(j, "max_position_embeddings")
                                  ? positive(j, "max_position_embeddings", where)
                                  : d.max_position_embeddings;
  c.tie_word_embeddings = json_field_or<bool>(j, "tie_word_embeddings", false, where);
  c.rms_norm_eps = json_field_or<double>(j, "rms_norm_eps", d.rms_norm_eps, where);
  c.rope_theta = json_field_or<double>(j, "rope_theta", d.rope_theta, where);

  if (has_field(j, "rope_scaling"))
    c.rope_scaling = rope_scaling_from_hf(j.at("rope_scaling"), where);

  // Sliding windows: mistral/mixtral apply sliding_window to every layer;
  // qwen2 only with use_sliding_window (to layers >= max_window_layers);
  // gpt_oss (and any config giving layer_types) per layer_types.
  c.sliding_window = json_field_or<int64_t>(j, "sliding_window", 0, where);
  if (c.sliding_window < 0) MESHLM_FAIL(where << ": sliding_window must be >= 0 or null");
  if (has_field(j, "layer_types"))
    c.layer_types = json_field<std::vector<std::string>>(j, "layer_types", where);
  if (c.family == Family::qwen2) {
    if (!json_field_or<bool>(j, "use_sliding_window", false, where)) {
      c.sliding_window = 0;
    } else if (c.layer_types.empty()) {
      const int64_t first = json_field_or<int64_t>(j, "max_window_layers", c.num_layers, where);
      for (int64_t l = 0; l < c.num_layers; ++l)
        c.layer_types.push_back(l >= first ? "sliding_attention" : "full_attention");
    }
  }
  if (c.family == Family::gpt_oss && c.layer_types.empty())  // HF default: even layers slide
    for (int64_t l = 0; l < c.num_layers; ++l)
      c.layer_types.push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");

  // Biases: HF llama's attention_bias covers q, k, v and o; qwen2 always has
  // q/k/v biases and no o bias; gpt_oss follows attention_bias (default true);
  // mistral and mixtral have none.
  if (c.family == Family::llama)
    c.qkv_bias = c.o_bias = json_field_or<bool>(j, "attention_bias", false, where);
  if (c.family == Family::qwen2) c.qkv_bias = true;
  if (c.family == Family::gpt_oss)
    c.qkv_bias = c.o_bias = json_field_or<bool>(j, "attention_bias", true, where);

  if (c.family == Family::mixtral || c.family == Family::gpt_oss) {
    c.num_experts = positive(j, "num_local_experts", where, kMaxLayers);
    if (c.family == Family::mixtral)
      c.experts_per_token = positive(j, "num_experts_per_tok", where);
    else if (has_field(j, "experts_per_token"))
      c.experts_per_token = positive(j, "experts_per_token", where);
    else
      c.experts_per_token = positive(j, "num_experts_per_tok", where);
    if (c.family == Family::gpt_oss) {
      c.swiglu_limit = json_field_or<double>(j, "swiglu_limit", 7.0, where);
      if (!(c.swiglu_limit > 0.0))
        MESHLM_FAIL(where << ": swiglu_limit is " << c.swiglu_limit << " (expected > 0)");
    }
  }

  const char* dtype_key = has_field(j, "torch_dtype") ? "torch_dtype" : "dtype";
  c.torch_dtype = has_field(j, dtype_key)
                      ? dtype_from_hf(json_field<std::string>(j, dtype_key, where), where)
                      : DType::bf16;
  c.bos_token_id = json_field_or<int64_t>(j, "bos_token_id", 1, where);
  if (has_field(j, "eos_token_id")) {
    const auto& e = j.at("eos_token_id");
    if (e.is_array())
      c.eos_token_ids = json_field<std::vector<int64_t>>(j, "eos_token_id", where);
    else
      c.eos_token_ids = {json_field<int64_t>(j, "eos_token_id", where)};
  } else {
    c.eos_token_ids = {2};
  }
  check_consistent(c, where);
  return c;
}

ModelConfig ModelConfig::from_llama2c_header(const int32_t h[7], const std::string& name) {
  static const char* const fields[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                        "n_kv_heads", "vocab_size", "seq_len"};
  const std::string where = "llama2.c header" + (name.empty() ? "" : " of '" + name + "'");
  for (int i = 0; i < 7; ++i)
    if (i != 5 && h[i] < 1)
      MESHLM_FAIL(where << ": " << fields[i] << " is " << h[i] << " (expected >= 1)");
  if (h[5] == 0) MESHLM_FAIL(where << ": vocab_size is 0");
  ModelConfig c;
  c.name = name;
  c.model_type = "llama";
  c.family = Family::llama;
  c.hidden_size = h[0];
  c.intermediate_size = h[1];
  c.num_layers = h[2];
  c.num_heads = h[3];
  c.num_kv_heads = h[4];
  c.vocab_size = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  c.tie_word_embeddings = h[5] > 0;
  c.max_position_embeddings = h[6];
  if (c.hidden_size % c.num_heads != 0)
    MESHLM_FAIL(where << ": dim (" << c.hidden_size << ") is not divisible by n_heads ("
                      << c.num_heads << ")");
  c.head_dim = c.hidden_size / c.num_heads;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.torch_dtype = DType::f32;
  c.bos_token_id = 1;
  c.eos_token_ids = {1};  // the reference loop stops when it samples BOS
  check_consistent(c, where);
  return c;
}

ModelConfig ModelConfig::load(const std::string& path_or_name) {
  fs::path p(path_or_name);
  if (fs::is_directory(p)) {
    if (!fs::is_regular_file(p / "config.json"))
      MESHLM_FAIL("model directory '" << path_or_name << "' has no config.json");
    return from_hf_json(read_json_file((p / "config.json").string()), p.filename().string());
  }
  if (!fs::is_regular_file(p)) p = resolve_config("models", path_or_name);
  if (p.extension() == ".bin") {
    check_regular_file(p.string(), "llama2.c checkpoint");
    std::ifstream in(p, std::ios::binary);
    int32_t header[7];
    if (!in.read(reinterpret_cast<char*>(header), sizeof header))
      MESHLM_FAIL("'" << p.string() << "' is too short for a llama2.c header (28 bytes)");
    return from_llama2c_header(header, p.stem().string());
  }
  if (p.extension() == ".safetensors") {
    const fs::path cfg = p.parent_path() / "config.json";
    if (!fs::is_regular_file(cfg))
      MESHLM_FAIL("no config.json beside '" << p.string() << "' (needed to size the model)");
    return from_hf_json(read_json_file(cfg.string()), p.parent_path().filename().string());
  }
  // A file named config.json is named after its directory.
  std::string name = p.stem().string();
  if (p.filename() == "config.json" && p.has_parent_path() && !p.parent_path().filename().empty())
    name = p.parent_path().filename().string();
  return from_hf_json(read_json_file(p.string()), name);
}

nlohmann::json ModelConfig::to_hf_json() const {
  nlohmann::json j;
  j["model_type"] = model_type;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    const RopeScaling& r = rope_scaling;
    j["rope_scaling"] = {{"rope_type", r.type},
                         {"factor", r.factor},
                         {"low_freq_factor", r.low_freq_factor},
                         {"high_freq_factor", r.high_freq_factor},
                         {"original_max_position_embeddings", r.original_max_position_embeddings}};
    if (r.type == "yarn") {
      j["rope_scaling"]["beta_fast"] = r.beta_fast;
      j["rope_scaling"]["beta_slow"] = r.beta_slow;
      j["rope_scaling"]["truncate"] = r.truncate;
      if (r.attention_factor != 0) j["rope_scaling"]["attention_factor"] = r.attention_factor;
    }
  }
  if (sliding_window > 0)
    j["sliding_window"] = sliding_window;
  else
    j["sliding_window"] = nullptr;
  if (family == Family::qwen2) j["use_sliding_window"] = sliding_window > 0;
  if (!layer_types.empty()) j["layer_types"] = layer_types;
  if (family == Family::llama || family == Family::gpt_oss) j["attention_bias"] = qkv_bias;
  if (family == Family::mixtral) j["num_experts_per_tok"] = experts_per_token;
  if (family == Family::gpt_oss) {
    j["experts_per_token"] = experts_per_token;
    j["swiglu_limit"] = swiglu_limit;
  }
  if (is_moe()) j["num_local_experts"] = num_experts;
  j["torch_dtype"] = dtype_to_hf(torch_dtype);
  j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  return j;
}

bool ModelConfig::layer_is_sliding(int64_t layer) const {
  if (sliding_window <= 0) return false;
  if (layer_types.empty()) return true;
  MESHLM_CHECK(layer >= 0 && layer < static_cast<int64_t>(layer_types.size()),
               "layer " << layer << " outside 0.." << layer_types.size() - 1);
  return layer_types[static_cast<size_t>(layer)] == "sliding_attention";
}

int64_t ModelConfig::kv_positions(int64_t layer, int64_t seq_len) const {
  return layer_is_sliding(layer) ? std::min(seq_len, sliding_window) : seq_len;
}

}  // namespace meshlm

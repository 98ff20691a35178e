#include "model/io/llama2c_format.h"

#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "arch/tensor_roles.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

namespace {

std::string header_text(const int32_t h[7]) {
  std::ostringstream os;
  os << "dim " << h[0] << ", hidden_dim " << h[1] << ", n_layers " << h[2] << ", n_heads " << h[3]
     << ", n_kv_heads " << h[4] << ", vocab_size " << h[5]
     << (h[5] < 0 ? " (separate classifier)" : " (shared classifier)") << ", seq_len " << h[6];
  return os.str();
}

}  // namespace

ModelConfig llama2c_config(const std::byte* data, uint64_t size, const std::string& path) {
  const std::string where = "llama2.c checkpoint " + path;
  if (size < static_cast<uint64_t>(kLlama2cHeaderBytes))
    MESHLM_FAIL(where << " is truncated: it has " << size << " bytes, fewer than the "
                      << kLlama2cHeaderBytes << "-byte header (7 int32)");
  int32_t header[7];
  std::memcpy(header, data, sizeof header);
  for (int i = 0; i < 7; ++i)
    if (header[i] == 0 || (header[i] < 0 && i != 5))
      MESHLM_FAIL(where << " has a corrupt header (" << header_text(header)
                        << "): every field must be positive (vocab_size may be negative)");
  ModelConfig config;
  try {
    config = ModelConfig::from_llama2c_header(header, std::filesystem::path(path).stem().string());
  } catch (const Error& e) {
    MESHLM_FAIL(where << " has an invalid header (" << header_text(header) << "): " << e.what());
  }
  const int64_t expected = llama2c_file_bytes(config);
  const uint64_t actual = size;
  if (actual < static_cast<uint64_t>(expected))
    MESHLM_FAIL(where << " is truncated: its header (" << header_text(header) << ") needs "
                      << format_count(static_cast<uint64_t>(expected)) << " bytes but the file has "
                      << format_count(actual) << " bytes");
  if (actual > static_cast<uint64_t>(expected))
    MESHLM_FAIL(where << " has " << format_count(actual)
                      << " bytes but its header (" << header_text(header) << ") describes "
                      << format_count(static_cast<uint64_t>(expected)) << " bytes: "
                      << format_count(actual - static_cast<uint64_t>(expected))
                      << " bytes of trailing data (corrupt file or wrong header)");
  return config;
}

std::vector<Llama2cArray> llama2c_layout(const ModelConfig& c) {
  // The file's arrays, in order (llama2.c's names): each per-layer role holds
  // all layers, [L][...]; two unused RoPE tables precede the classifier.
  struct FileArray {
    TensorRole role;
    bool rope_rows;
  };
  static const FileArray kOrder[] = {
      {TensorRole::embed, false},       // token_embedding [V][D]
      {TensorRole::attn_norm, false},   // rms_att [L][D]
      {TensorRole::q, true},            // wq [L][H*hd][D]
      {TensorRole::k, true},            // wk [L][K*hd][D]
      {TensorRole::v, false},           // wv [L][K*hd][D]
      {TensorRole::o, false},           // wo [L][D][H*hd]
      {TensorRole::mlp_norm, false},    // rms_ffn [L][D]
      {TensorRole::gate, false},        // w1 [L][I][D]
      {TensorRole::down, false},        // w2 [L][D][I]
      {TensorRole::up, false},          // w3 [L][I][D]
      {TensorRole::final_norm, false},  // rms_final [D]
  };
  std::vector<Llama2cArray> out;
  for (const FileArray& a : kOrder) {
    const TensorRoleInfo& r = role_info(a.role);
    const Shape shape = role_shape(r, c);
    if (r.scope == Scope::model)
      out.push_back({tensor_name(a.role), a.role, shape, a.rope_rows});
    else
      for (int64_t l = 0; l < c.num_layers; ++l)
        out.push_back({tensor_name(a.role, l), a.role, shape, a.rope_rows});
  }
  const Shape rope_table{c.max_position_embeddings, c.head_dim / 2};
  out.push_back({"", TensorRole::embed, rope_table});  // freq_cis_real (unused)
  out.push_back({"", TensorRole::embed, rope_table});  // freq_cis_imag (unused)
  if (!c.tie_word_embeddings)                          // wcls [V][D]
    out.push_back({tensor_name(TensorRole::lm_head), TensorRole::lm_head,
                   role_shape(role_info(TensorRole::lm_head), c)});
  return out;
}

int64_t llama2c_file_bytes(const ModelConfig& c) {
  using i128 = __int128;
  const i128 D = c.hidden_size, I = c.intermediate_size, L = c.num_layers, V = c.vocab_size;
  const i128 hd = c.head_dim, q = c.num_heads * hd, kv = c.num_kv_heads * hd;
  const i128 floats = V * D + L * (2 * D + q * D + 2 * kv * D + D * q + 3 * I * D) + D +
                      2 * c.max_position_embeddings * (hd / 2) +
                      (c.tie_word_embeddings ? 0 : V * D);
  const i128 bytes = kLlama2cHeaderBytes + 4 * floats;
  if (bytes > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(bytes);
}

void llama2c_header(const ModelConfig& c, int32_t header[7]) {
  const std::string why = llama2c_unrepresentable_reason(c);
  if (!why.empty()) MESHLM_FAIL("cannot write " << c.name << " as a llama2.c checkpoint: " << why);
  header[0] = static_cast<int32_t>(c.hidden_size);
  header[1] = static_cast<int32_t>(c.intermediate_size);
  header[2] = static_cast<int32_t>(c.num_layers);
  header[3] = static_cast<int32_t>(c.num_heads);
  header[4] = static_cast<int32_t>(c.num_kv_heads);
  header[5] = static_cast<int32_t>(c.tie_word_embeddings ? c.vocab_size : -c.vocab_size);
  header[6] = static_cast<int32_t>(c.max_position_embeddings);
}

std::string llama2c_unrepresentable_reason(const ModelConfig& c) {
  std::ostringstream why;
  if (c.model_type != "llama" && c.model_type != "mistral")
    why << "model_type " << c.model_type << " is not of the llama family";
  else if (c.is_moe())
    why << "it is a mixture of experts";
  else if (c.qkv_bias || c.o_bias)
    why << "it has attention biases";
  else if (c.head_dim * c.num_heads != c.hidden_size)
    why << "head_dim " << c.head_dim << " x " << c.num_heads << " heads != hidden_size "
        << c.hidden_size;
  else if (c.head_dim % 2 != 0)
    why << "head_dim " << c.head_dim << " is odd";
  else if (c.sliding_window > 0 || !c.layer_types.empty())
    why << "it uses sliding-window attention";
  else if (c.rope_theta != 10000.0)
    why << "rope_theta is " << c.rope_theta << " (llama2.c implies 10000)";
  else if (!c.rope_scaling.type.empty())
    why << "it uses rope_scaling " << c.rope_scaling.type;
  else if (c.rms_norm_eps != 1e-5)
    why << "rms_norm_eps is " << c.rms_norm_eps << " (llama2.c implies 1e-5)";
  else {
    const int64_t limit = std::numeric_limits<int32_t>::max();
    for (int64_t v : {c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads, c.num_kv_heads,
                      c.vocab_size, c.max_position_embeddings})
      if (v <= 0 || v > limit) {
        why << "a dimension (" << v << ") does not fit the int32 header";
        break;
      }
  }
  return why.str();
}

}  // namespace meshlm

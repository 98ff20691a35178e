#include "arch/tensor_roles.h"

#include <cstring>

#include "sharding/checked.h"
#include "sharding/error.h"

namespace meshlm {

namespace {

constexpr uint32_t kDense =
    family_bit(Family::llama) | family_bit(Family::mistral) | family_bit(Family::qwen2);
constexpr uint32_t kMixtral = family_bit(Family::mixtral);
constexpr uint32_t kGptOss = family_bit(Family::gpt_oss);
constexpr uint32_t kAll = kDense | kMixtral | kGptOss;

using A = Axis;
using S = ParallelStyle;
using K = TensorKind;
constexpr TensorDim::Unit hd = TensorDim::head_dim, two = TensorDim::two;

// clang-format off
// One row per role, in enum order (= checkpoint order within a layer).
const std::vector<TensorRoleInfo> kRoles = {
  {TensorRole::embed, "model.embed_tokens.weight", Scope::model, {{A::vocab}, {A::embed}}, S::vocab, kAll, Presence::always, K::embedding},
  {TensorRole::attn_norm, "model.layers.{layer}.input_layernorm.weight", Scope::layer, {{A::embed}}, S::replicated, kAll, Presence::always, K::norm},
  {TensorRole::q, "model.layers.{layer}.self_attn.q_proj.weight", Scope::layer, {{A::heads, hd}, {A::embed}}, S::column, kAll, Presence::always, K::matrix},
  {TensorRole::q_bias, "model.layers.{layer}.self_attn.q_proj.bias", Scope::layer, {{A::heads, hd}}, S::column, kAll, Presence::qkv_bias, K::bias},
  {TensorRole::k, "model.layers.{layer}.self_attn.k_proj.weight", Scope::layer, {{A::kv_heads, hd}, {A::embed}}, S::kv_column, kAll, Presence::always, K::matrix},
  {TensorRole::k_bias, "model.layers.{layer}.self_attn.k_proj.bias", Scope::layer, {{A::kv_heads, hd}}, S::kv_column, kAll, Presence::qkv_bias, K::bias},
  {TensorRole::v, "model.layers.{layer}.self_attn.v_proj.weight", Scope::layer, {{A::kv_heads, hd}, {A::embed}}, S::kv_column, kAll, Presence::always, K::matrix},
  {TensorRole::v_bias, "model.layers.{layer}.self_attn.v_proj.bias", Scope::layer, {{A::kv_heads, hd}}, S::kv_column, kAll, Presence::qkv_bias, K::bias},
  {TensorRole::o, "model.layers.{layer}.self_attn.o_proj.weight", Scope::layer, {{A::embed}, {A::heads, hd}}, S::row, kAll, Presence::always, K::matrix},
  {TensorRole::o_bias, "model.layers.{layer}.self_attn.o_proj.bias", Scope::layer, {{A::embed}}, S::replicated, kAll, Presence::o_bias, K::bias},
  {TensorRole::sinks, "model.layers.{layer}.self_attn.sinks", Scope::layer, {{A::heads}}, S::column, kGptOss, Presence::always, K::sinks},
  {TensorRole::mlp_norm, "model.layers.{layer}.post_attention_layernorm.weight", Scope::layer, {{A::embed}}, S::replicated, kAll, Presence::always, K::norm},
  {TensorRole::gate, "model.layers.{layer}.mlp.gate_proj.weight", Scope::layer, {{A::mlp}, {A::embed}}, S::column, kDense, Presence::always, K::matrix},
  {TensorRole::up, "model.layers.{layer}.mlp.up_proj.weight", Scope::layer, {{A::mlp}, {A::embed}}, S::column, kDense, Presence::always, K::matrix},
  {TensorRole::down, "model.layers.{layer}.mlp.down_proj.weight", Scope::layer, {{A::embed}, {A::mlp}}, S::row, kDense, Presence::always, K::matrix},
  {TensorRole::moe_router, "model.layers.{layer}.block_sparse_moe.gate.weight", Scope::layer, {{A::experts}, {A::embed}}, S::replicated, kMixtral, Presence::always, K::matrix},
  {TensorRole::moe_w1, "model.layers.{layer}.block_sparse_moe.experts.w1", Scope::layer, {{A::experts}, {A::mlp}, {A::embed}}, S::expert_column, kMixtral, Presence::always, K::matrix, Stored::per_expert, "model.layers.{layer}.block_sparse_moe.experts.{expert}.w1.weight"},
  {TensorRole::moe_w2, "model.layers.{layer}.block_sparse_moe.experts.w2", Scope::layer, {{A::experts}, {A::embed}, {A::mlp}}, S::expert_row, kMixtral, Presence::always, K::matrix, Stored::per_expert, "model.layers.{layer}.block_sparse_moe.experts.{expert}.w2.weight"},
  {TensorRole::moe_w3, "model.layers.{layer}.block_sparse_moe.experts.w3", Scope::layer, {{A::experts}, {A::mlp}, {A::embed}}, S::expert_column, kMixtral, Presence::always, K::matrix, Stored::per_expert, "model.layers.{layer}.block_sparse_moe.experts.{expert}.w3.weight"},
  {TensorRole::router, "model.layers.{layer}.mlp.router.weight", Scope::layer, {{A::experts}, {A::embed}}, S::replicated, kGptOss, Presence::always, K::matrix},
  {TensorRole::router_bias, "model.layers.{layer}.mlp.router.bias", Scope::layer, {{A::experts}}, S::replicated, kGptOss, Presence::always, K::bias},
  {TensorRole::experts_gate_up, "model.layers.{layer}.mlp.experts.gate_up_proj", Scope::layer, {{A::experts}, {A::mlp, two}, {A::embed}}, S::expert_column, kGptOss, Presence::always, K::matrix, Stored::transposed},
  {TensorRole::experts_gate_up_b, "model.layers.{layer}.mlp.experts.gate_up_proj_bias", Scope::layer, {{A::experts}, {A::mlp, two}}, S::expert_column, kGptOss, Presence::always, K::bias},
  {TensorRole::experts_down, "model.layers.{layer}.mlp.experts.down_proj", Scope::layer, {{A::experts}, {A::embed}, {A::mlp}}, S::expert_row, kGptOss, Presence::always, K::matrix, Stored::transposed},
  {TensorRole::experts_down_b, "model.layers.{layer}.mlp.experts.down_proj_bias", Scope::layer, {{A::experts}, {A::embed}}, S::expert, kGptOss, Presence::always, K::bias},
  {TensorRole::final_norm, "model.norm.weight", Scope::model, {{A::embed}}, S::replicated, kAll, Presence::always, K::norm},
  {TensorRole::lm_head, "lm_head.weight", Scope::model, {{A::vocab}, {A::embed}}, S::vocab, kAll, Presence::untied_lm_head, K::matrix},
};
// clang-format on

const char* const kRoleNames[kTensorRoleCount] = {"embed",
                                                  "attn_norm",
                                                  "q",
                                                  "q_bias",
                                                  "k",
                                                  "k_bias",
                                                  "v",
                                                  "v_bias",
                                                  "o",
                                                  "o_bias",
                                                  "sinks",
                                                  "mlp_norm",
                                                  "gate",
                                                  "up",
                                                  "down",
                                                  "moe_router",
                                                  "moe_w1",
                                                  "moe_w2",
                                                  "moe_w3",
                                                  "router",
                                                  "router_bias",
                                                  "experts_gate_up",
                                                  "experts_gate_up_b",
                                                  "experts_down",
                                                  "experts_down_b",
                                                  "final_norm",
                                                  "lm_head"};

void replace(std::string& s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
}

}  // namespace

const std::vector<TensorRoleInfo>& tensor_roles() {
  return kRoles;
}

const TensorRoleInfo& role_info(TensorRole role) {
  const TensorRoleInfo& r = kRoles.at(static_cast<size_t>(role));
  MESHLM_CHECK(r.role == role, "kRoles is not in the order of enum TensorRole");
  return r;
}

const char* role_name(TensorRole role) {
  return kRoleNames[static_cast<size_t>(role)];
}

bool is_expert_role(TensorRole role) {
  const ParallelStyle s = role_info(role).style;
  return s == ParallelStyle::expert_column || s == ParallelStyle::expert_row ||
         s == ParallelStyle::expert;
}

const char* axis_name(Axis a) {
  static const char* const names[] = {"vocab", "embed", "heads", "kv_heads", "mlp", "experts"};
  return names[static_cast<size_t>(a)];
}

bool role_present(const TensorRoleInfo& r, const ModelConfig& c) {
  if ((r.families & family_bit(c.family)) == 0) return false;
  switch (r.presence) {
    case Presence::always:
      return true;
    case Presence::qkv_bias:
      return c.qkv_bias;
    case Presence::o_bias:
      return c.o_bias;
    case Presence::untied_lm_head:
      return !c.tie_word_embeddings;
  }
  return false;
}

int64_t axis_size(const ModelConfig& c, Axis a) {
  switch (a) {
    case Axis::vocab:
      return c.vocab_size;
    case Axis::embed:
      return c.hidden_size;
    case Axis::heads:
      return c.num_heads;
    case Axis::kv_heads:
      return c.num_kv_heads;
    case Axis::mlp:
      return c.intermediate_size;
    case Axis::experts:
      return c.num_experts;
  }
  return 0;
}

Shape role_shape(const TensorRoleInfo& r, const ModelConfig& c) {
  Shape s;
  for (const TensorDim& d : r.dims) {
    const int64_t unit = d.unit == TensorDim::head_dim ? c.head_dim
                         : d.unit == TensorDim::two    ? 2
                                                       : 1;
    s.push_back(axis_size(c, d.axis) * unit);
  }
  return s;
}

std::string tensor_name(TensorRole role, int64_t layer) {
  std::string n = role_info(role).name;
  replace(n, "{layer}", std::to_string(layer));
  return n;
}

std::string role_wildcard_name(TensorRole role) {
  std::string n = role_info(role).name;
  replace(n, "{layer}", "*");
  replace(n, "{expert}", "*");
  return n;
}

std::string role_pattern(TensorRole role) {
  std::string out;
  for (const char* p = role_info(role).name; *p; ++p) {
    if (*p == '{') {
      out += "\\d+";
      p = std::strchr(p, '}');
    } else {
      if (*p == '.') out += '\\';
      out += *p;
    }
  }
  return out;
}

std::vector<TensorInfo> tensor_inventory(const ModelConfig& c) {
  std::vector<TensorInfo> out;
  auto add = [&](const TensorRoleInfo& r, int64_t layer) {
    out.push_back({tensor_name(r.role, layer), role_shape(r, c), r.role, layer});
  };
  // Model-scope roles before the layers (embed) and after them (norm, lm_head).
  const auto before_layers = [](const TensorRoleInfo& r) { return r.role == TensorRole::embed; };
  for (const TensorRoleInfo& r : kRoles)
    if (r.scope == Scope::model && before_layers(r) && role_present(r, c)) add(r, -1);
  for (int64_t l = 0; l < c.num_layers; ++l)
    for (const TensorRoleInfo& r : kRoles)
      if (r.scope == Scope::layer && role_present(r, c)) add(r, l);
  for (const TensorRoleInfo& r : kRoles)
    if (r.scope == Scope::model && !before_layers(r) && role_present(r, c)) add(r, -1);
  return out;
}

std::optional<TensorInfo> find_tensor(const ModelConfig& c, const std::string& name) {
  for (auto& t : tensor_inventory(c))
    if (t.name == name) return t;
  return std::nullopt;
}

bool stored_as_mxfp4(const TensorInfo& t) {
  const TensorRoleInfo& r = role_info(t.role);
  return r.stored == Stored::transposed && r.kind == TensorKind::matrix;
}

std::vector<FileTensor> file_tensors(const TensorInfo& t, bool mxfp4) {
  const TensorRoleInfo& r = role_info(t.role);
  const Shape& s = t.shape;
  if (r.stored == Stored::per_expert) {
    std::vector<FileTensor> out;
    std::string pattern = r.file_name;
    replace(pattern, "{layer}", std::to_string(t.layer));
    for (int64_t e = 0; e < s[0]; ++e) {
      std::string n = pattern;
      replace(n, "{expert}", std::to_string(e));
      out.push_back({n, Shape(s.begin() + 1, s.end()), FileTensor::one_expert, e});
    }
    return out;
  }
  if (r.stored == Stored::transposed && mxfp4 && stored_as_mxfp4(t)) {
    const int64_t in = s.back(), blocks = (in + 31) / 32;  // 32-element blocks along `in`
    return {{t.name + "_blocks", {s[0], s[1], blocks, 16}, FileTensor::mx_blocks},
            {t.name + "_scales", {s[0], s[1], blocks}, FileTensor::mx_scales}};
  }
  if (r.stored == Stored::transposed) {
    Shape f = s;
    std::swap(f[f.size() - 1], f[f.size() - 2]);
    return {{t.name, f, FileTensor::transposed}};
  }
  return {{t.name, s, FileTensor::whole}};
}

uint64_t parameter_count(const ModelConfig& c) {
  // The sum over tensor_inventory(c) without building it (check_limits calls
  // this on every config read): every layer holds the same roles and shapes.
  uint64_t n = 0;
  for (const TensorRoleInfo& r : kRoles) {
    if (!role_present(r, c)) continue;
    const auto elems = static_cast<uint64_t>(num_elements(role_shape(r, c), r.name));
    const auto copies = static_cast<uint64_t>(r.scope == Scope::layer ? c.num_layers : 1);
    n = checked_add(n, checked_mul(elems, copies, "parameter count"), "parameter count");
  }
  return n;
}

}  // namespace meshlm

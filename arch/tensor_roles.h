// The tensor-role table: every parameter tensor a supported family can have,
// with its canonical Hugging Face name, its shape in logical dimensions, its
// parallel style and when it exists. The inventory, the default sharding
// rules, the loaders' name mapping, the shard-layout validation and the
// runtime's weight slots all derive from this one table (docs/DESIGN.md §2;
// adding a role or a family: §12).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/model_config.h"
#include "sharding/named_sharding.h"

namespace meshlm {

enum class TensorRole {
  embed,              // model.embed_tokens.weight                       [V, D]
  attn_norm,          // L input_layernorm.weight                        [D]
  q,                  // L self_attn.q_proj.weight                       [H*hd, D]
  q_bias,             // L self_attn.q_proj.bias                         [H*hd]
  k,                  // L self_attn.k_proj.weight                       [K*hd, D]
  k_bias,             // L self_attn.k_proj.bias                         [K*hd]
  v,                  // L self_attn.v_proj.weight                       [K*hd, D]
  v_bias,             // L self_attn.v_proj.bias                         [K*hd]
  o,                  // L self_attn.o_proj.weight                       [D, H*hd]
  o_bias,             // L self_attn.o_proj.bias                         [D]
  sinks,              // L self_attn.sinks                               [H]
  mlp_norm,           // L post_attention_layernorm.weight               [D]
  gate,               // L mlp.gate_proj.weight                          [I, D]
  up,                 // L mlp.up_proj.weight                            [I, D]
  down,               // L mlp.down_proj.weight                          [D, I]
  moe_router,         // L block_sparse_moe.gate.weight                  [E, D]
  moe_w1,             // L block_sparse_moe.experts.w1                   [E, I, D] (stack of
                      // experts.{e}.w1.weight)
  moe_w2,             // L block_sparse_moe.experts.w2                   [E, D, I]
  moe_w3,             // L block_sparse_moe.experts.w3                   [E, I, D]
  router,             // L mlp.router.weight                             [E, D]
  router_bias,        // L mlp.router.bias                               [E]
  experts_gate_up,    // L mlp.experts.gate_up_proj                      [E, 2I, D] (rows gate/up
                      // interleaved)
  experts_gate_up_b,  // L mlp.experts.gate_up_proj_bias                 [E, 2I]
  experts_down,       // L mlp.experts.down_proj                         [E, D, I]
  experts_down_b,     // L mlp.experts.down_proj_bias                    [E, D]
  final_norm,         // model.norm.weight                               [D]
  lm_head,            // lm_head.weight                                  [V, D]
};
inline constexpr size_t kTensorRoleCount = static_cast<size_t>(TensorRole::lm_head) + 1;

// A value per role (the runtime's weight slots).
template <class T>
struct PerRole {
  std::array<T, kTensorRoleCount> items{};
  T& operator[](TensorRole r) { return items[static_cast<size_t>(r)]; }
  const T& operator[](TensorRole r) const { return items[static_cast<size_t>(r)]; }
};

// What a dimension of a tensor counts. A dimension is `unit` consecutive
// elements per item: q_proj's rows are heads of hd rows, gate_up_proj's rows
// are I pairs (gate, up).
enum class Axis { vocab, embed, heads, kv_heads, mlp, experts };
const char* axis_name(Axis a);  // "vocab", "embed", ...

struct TensorDim {
  Axis axis;
  enum Unit { one, head_dim, two } unit = one;
};

// How tensor parallelism over 'mp' splits the role (Megatron style):
//   column      split the output dimension (0); no communication
//   row         split the input (last) dimension; output all-reduced over mp
//   vocab       split the vocabulary rows when V % mp == 0, else replicated
//   kv_column   column, or replicated when mp > K (each device then reads the
//               KV heads its query heads use)
//   replicated  every device holds all of it
// and for the experts' weights [E, out, in] (and their biases), either whole
// experts (dimension 0: expert parallelism, `--moe ep`) or, like the dense
// MLP, a slice of every expert (`--moe tp`):
//   expert_column  dimension 0, or the output (dimension 1)
//   expert_row     dimension 0, or the input (last dimension): partial sums
//   expert         dimension 0, or replicated (down_proj's bias, added once)
enum class ParallelStyle {
  column,
  row,
  vocab,
  kv_column,
  replicated,
  expert_column,
  expert_row,
  expert
};

enum class Scope { model, layer };

// How the Hugging Face files store a role's tensor when it is not as the
// table says (the table's shape is meshlm's logical tensor; readers and
// writers map, model/io):
//   per_expert  one tensor per expert, `file_name` with {expert} (mixtral)
//   transposed  [E, in, out]: the last two dimensions swapped (gpt_oss BF16;
//               its MXFP4 files store <name>_blocks / <name>_scales [E, out, in])
enum class Stored { as_is, per_expert, transposed };

// What the values are (for initialisation and cost accounting).
enum class TensorKind { matrix, bias, norm, embedding, sinks };

// When the role exists beyond its family (config flags).
enum class Presence { always, qkv_bias, o_bias, untied_lm_head };

struct TensorRoleInfo {
  TensorRole role;
  const char* name;  // canonical HF name; {layer} and {expert} are indices
  Scope scope;
  std::vector<TensorDim> dims;
  ParallelStyle style;
  uint32_t families;  // bit mask of family_bit(Family)
  Presence presence;
  TensorKind kind;
  Stored stored = Stored::as_is;
  const char* file_name = nullptr;  // per_expert: the file tensor of expert {expert}
};

// The table, in checkpoint (inventory) order within a layer.
const std::vector<TensorRoleInfo>& tensor_roles();
const TensorRoleInfo& role_info(TensorRole role);
const char* role_name(TensorRole role);  // "q", "gate", ...
bool role_present(const TensorRoleInfo& role, const ModelConfig& config);
// Weights of the experts (the [E, ...] tensors split by --moe), not the router.
bool is_expert_role(TensorRole role);

// One parameter tensor of a model.
struct TensorInfo {
  std::string name;  // canonical Hugging Face name
  Shape shape;
  TensorRole role = TensorRole::embed;
  int64_t layer = -1;  // -1 for model-scope roles
};

// The size of a logical axis (V, D, H, K, I, E) and a role's global shape.
int64_t axis_size(const ModelConfig& config, Axis axis);
Shape role_shape(const TensorRoleInfo& role, const ModelConfig& config);
// The canonical name of a role's tensor.
std::string tensor_name(TensorRole role, int64_t layer = -1);
// The name with '*' for the layer and expert, for messages.
std::string role_wildcard_name(TensorRole role);
// A regex matching the role's tensor in every layer and expert.
std::string role_pattern(TensorRole role);
// Which role a canonical tensor name has for this config (nullopt if none).
std::optional<TensorInfo> find_tensor(const ModelConfig& config, const std::string& name);

// Every parameter tensor, in checkpoint order: embed, per layer (norms,
// attention, mlp / moe), final norm, lm_head (absent when tied).
std::vector<TensorInfo> tensor_inventory(const ModelConfig& config);
uint64_t parameter_count(const ModelConfig& config);

// The tensors of a Hugging Face checkpoint that hold one logical tensor
// (role table `stored`): itself; one per expert ([E, ...] minus dimension 0);
// the transposed [E, in, out]; or, for mxfp4 files (quant_method "mxfp4"),
// the experts' matrices as <name>_blocks [E, out, in/32, 16] and
// <name>_scales [E, out, in/32] (uint8). `mxfp4` says which layout.
struct FileTensor {
  std::string name;
  Shape shape;
  enum Part { whole, one_expert, transposed, mx_blocks, mx_scales } part = whole;
  int64_t expert = -1;  // Part::one_expert: which
};
std::vector<FileTensor> file_tensors(const TensorInfo& tensor, bool mxfp4);
// Whether an mxfp4 checkpoint stores this tensor as blocks and scales.
bool stored_as_mxfp4(const TensorInfo& tensor);

}  // namespace meshlm

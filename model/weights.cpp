#include "model/weights.h"

#include "arch/shard_layout.h"
#include "sharding/error.h"

namespace meshlm {

WeightView ShardedTensor::view() const {
  MESHLM_CHECK(shape.size() == 2, name << " is not a matrix");
  return WeightView{data.data(), dtype, shape[0], shape[1]};
}

WeightView ShardedTensor::rows_view(int64_t row0, int64_t rows) const {
  MESHLM_CHECK(shape.size() == 2 && row0 >= 0 && row0 + rows <= shape[0],
               "rows [" << row0 << ", " << row0 + rows << ") outside " << name << " block "
                        << shape_to_string(shape));
  const auto* base = static_cast<const std::byte*>(ptr());
  return WeightView{base + dtype_bytes(dtype, static_cast<uint64_t>(row0 * shape[1])), dtype, rows,
                    shape[1]};
}

ModelWeights load_weights(const Checkpoint& ckpt, const Plan& plan, const std::vector<int>& coords,
                          DeviceMemory& memory, const LoadProgressFn& progress) {
  const ModelConfig& c = ckpt.config();
  const auto inventory = tensor_inventory(c);

  struct Pending {
    const TensorInfo* info;
    ShardedTensor* dst;
  };
  ModelWeights w;
  w.layers.resize(static_cast<size_t>(c.num_layers));
  std::vector<Pending> todo;
  LoadProgress p;
  for (auto& t : inventory) {
    const std::string& n = t.name;
    ShardedTensor* dst = nullptr;
    if (n == "model.embed_tokens.weight")
      dst = &w.embed;
    else if (n == "model.norm.weight")
      dst = &w.final_norm;
    else if (n == "lm_head.weight")
      dst = &w.lm_head;
    else {
      const size_t prefix = std::string("model.layers.").size();
      const size_t dot = n.find('.', prefix);
      MESHLM_CHECK(n.compare(0, prefix, "model.layers.") == 0 && dot != std::string::npos,
                   "unexpected tensor " << n);
      LayerWeights& L = w.layers[std::stoul(n.substr(prefix, dot - prefix))];
      const std::string rest = n.substr(dot + 1);
      if (rest == "input_layernorm.weight")
        dst = &L.attn_norm;
      else if (rest == "self_attn.q_proj.weight")
        dst = &L.q;
      else if (rest == "self_attn.k_proj.weight")
        dst = &L.k;
      else if (rest == "self_attn.v_proj.weight")
        dst = &L.v;
      else if (rest == "self_attn.q_proj.bias")
        dst = &L.q_bias;
      else if (rest == "self_attn.k_proj.bias")
        dst = &L.k_bias;
      else if (rest == "self_attn.v_proj.bias")
        dst = &L.v_bias;
      else if (rest == "self_attn.o_proj.weight")
        dst = &L.o;
      else if (rest == "self_attn.o_proj.bias")
        dst = &L.o_bias;
      else if (rest == "post_attention_layernorm.weight")
        dst = &L.mlp_norm;
      else if (rest == "mlp.gate_proj.weight")
        dst = &L.gate;
      else if (rest == "mlp.up_proj.weight")
        dst = &L.up;
      else if (rest == "mlp.down_proj.weight")
        dst = &L.down;
      else
        MESHLM_FAIL("tensor " << n << " is not executed by the runtime");
    }
    const NamedSharding sh = plan.sharding_for(n);
    dst->name = n;
    dst->global_shape = t.shape;
    dst->shape = sh.shard_shape(t.shape, n);
    dst->offset = sh.shard_offset(t.shape, coords, n);
    dst->dtype = tensor_dtype(plan, n);
    todo.push_back({&t, dst});
    p.bytes_total += dtype_bytes(dst->dtype, static_cast<uint64_t>(num_elements(dst->shape)));
  }
  p.tensors_total = static_cast<int64_t>(todo.size());
  if (progress) progress(p);
  for (auto& [info, dst] : todo) {
    const uint64_t bytes = dtype_bytes(dst->dtype, static_cast<uint64_t>(num_elements(dst->shape)));
    dst->data = DeviceBuffer<std::byte>(memory, MemCategory::weights, bytes, dst->name);
    ckpt.read_block(dst->name, dst->offset, dst->shape, dst->dtype, dst->data.data());
    p.bytes_done += bytes;
    ++p.tensors_done;
    if (progress) progress(p);
  }
  return w;
}

}  // namespace meshlm

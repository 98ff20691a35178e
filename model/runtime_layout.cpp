#include "model/runtime_layout.h"

#include "arch/tensor_roles.h"
#include "sharding/error.h"

namespace meshlm {

ShardLayout runtime_layout(const ModelConfig& c, const Plan& plan, const std::vector<int>& coords) {
  if (!family_info(c.family).runtime)
    MESHLM_FAIL("model type '" << c.model_type << "' is not supported by the runtime (supported: "
                               << family_list(true) << "; the planner also sizes "
                               << "mixtral and gpt_oss)");
  if (plan.compute_dtype != DType::f32)
    MESHLM_FAIL("compute dtype " << dtype_name(plan.compute_dtype)
                                 << " is not supported by the runtime (fp32)");
  if (plan.kv_dtype != DType::f32 && plan.kv_dtype != DType::bf16 && plan.kv_dtype != DType::i8)
    MESHLM_FAIL("KV cache dtype " << dtype_name(plan.kv_dtype)
                                  << " is not supported by the runtime (fp32, bf16, int8)");
  for (auto& t : tensor_inventory(c)) {
    const DType dt = tensor_dtype(plan, t.name);
    const bool matrix = t.shape.size() == 2;
    if (dt != DType::f32 && dt != DType::bf16 && !(matrix && is_quantized(dt)))
      MESHLM_FAIL("tensor " << t.name << " " << shape_to_string(t.shape) << " has dtype "
                            << dtype_name(dt) << " in the plan; the runtime stores weights in fp32 "
                            << "or bf16, and matrices also in int8 or int4");
  }
  return shard_layout(c, plan, coords);
}

}  // namespace meshlm

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
  // Every dtype the planner sizes (check_kv_dtype, check_weight_dtype).
  check_kv_dtype(plan.kv_dtype);
  check_weight_dtype(plan.weight_dtype);
  // One weight dtype per plan, stored as storage_dtype() says (norms, biases
  // and sinks of a quantized plan in bf16): a tensor entry saying otherwise is
  // refused, not silently used or ignored.
  for (const TensorInfo& info : tensor_inventory(c)) {
    const TensorPlan* t = plan.find(info.name);
    if (!t) continue;
    const DType want = storage_dtype(info, plan.weight_dtype);
    if (t->dtype != want)
      MESHLM_FAIL("tensor " << t->name << " has dtype " << dtype_name(t->dtype)
                            << " in the plan, but a plan with weight dtype "
                            << dtype_name(plan.weight_dtype) << " stores it in "
                            << dtype_name(want));
  }
  return shard_layout(c, plan, coords);
}

}  // namespace meshlm

// A plan file (sharding/plan.h, Plan::parse = Plan::load on the file's
// text). A plan that loads must save and load again, and every listed
// tensor's shard shape must exist on its mesh.
#include "fuzz/fuzz_util.h"
#include "sharding/error.h"
#include "sharding/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  try {
    const Plan p = Plan::parse(fuzz::text(data, size), "fuzz-plan.json");
    for (const TensorPlan& t : p.tensors) {
      const Shape block = p.sharding_for(t.name).shard_shape(t.shape, t.name);
      FUZZ_ASSERT(block.size() == t.shape.size());
    }
    const Plan back = Plan::from_json(p.to_json());
    FUZZ_ASSERT(back.to_json() == p.to_json());
  } catch (const Error&) {
  }
  return 0;
}

// What the runtime executes: shard_layout() (arch/shard_layout.h) after
// checking that the runtime supports the plan's family and dtypes.
#pragma once

#include <vector>

#include "arch/shard_layout.h"

namespace meshlm {

// Throws meshlm::Error naming the family or dtype the runtime does not run,
// or what shard_layout() rejects.
ShardLayout runtime_layout(const ModelConfig& config, const Plan& plan,
                           const std::vector<int>& coords);

}  // namespace meshlm

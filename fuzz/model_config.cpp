// A Hugging Face config.json (arch/model_config.h, ModelConfig::from_hf_json,
// and the quantization_config model/io reads beside it). A config that is
// accepted must survive to_hf_json and back with the same architecture.
#include <nlohmann/json.hpp>

#include "arch/model_config.h"
#include "arch/tensor_roles.h"
#include "fuzz/fuzz_util.h"
#include "model/io/quantized_checkpoint.h"
#include "sharding/device_spec.h"
#include "sharding/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  try {
    const nlohmann::json j = parse_json(fuzz::text(data, size), "config.json");
    (void)declared_quantization(j, "config fuzz/config.json");
    const ModelConfig c = ModelConfig::from_hf_json(j, "fuzz");
    const ModelConfig back = ModelConfig::from_hf_json(c.to_hf_json(), "fuzz (written back)");
    FUZZ_ASSERT(back.to_hf_json() == c.to_hf_json());
    FUZZ_ASSERT(parameter_count(back) == parameter_count(c));
    // The inventory is bounded by check_limits; build it when it is small.
    if (c.num_layers * (1 + c.num_experts) <= 64) {
      const auto inventory = tensor_inventory(c);
      FUZZ_ASSERT(!inventory.empty());
    }
  } catch (const Error&) {
  }
  return 0;
}

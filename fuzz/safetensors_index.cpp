// model.safetensors.index.json (model/io/safetensors_format.h): the input is
// the index file. Every shard name the parser accepts must stay inside the
// model directory.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz_util.h"
#include "model/io/safetensors_format.h"
#include "sharding/device_spec.h"
#include "sharding/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  namespace fs = std::filesystem;
  try {
    const nlohmann::json j = parse_json(fuzz::text(data, size), "fuzz.index.json");
    for (const auto& [tensor, shard] : parse_safetensors_index(j, "fuzz.index.json")) {
      FUZZ_ASSERT(!shard.empty());
      const fs::path joined = (fs::path("/models/m") / shard).lexically_normal();
      const std::string s = joined.string();
      FUZZ_ASSERT(s.rfind("/models/m", 0) == 0);
      FUZZ_ASSERT(s.size() == 9 || s[9] == '/');
    }
  } catch (const Error&) {
  }
  return 0;
}

// The llama2.c checkpoint header (model/io/llama2c_format.h): the input is the
// whole file. What the parser accepts must describe exactly the input's bytes,
// and its layout must fit in them. The first 28 bytes also go through the
// header-only path mesh-plan takes (ModelConfig::from_llama2c_header).
#include <cstring>

#include "arch/model_config.h"
#include "fuzz/fuzz_util.h"
#include "model/io/llama2c_format.h"
#include "sharding/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  if (size >= 28) {
    int32_t header[7];
    std::memcpy(header, data, sizeof header);
    try {
      const ModelConfig c = ModelConfig::from_llama2c_header(header, "fuzz");
      FUZZ_ASSERT(llama2c_file_bytes(c) > kLlama2cHeaderBytes);
      (void)llama2c_unrepresentable_reason(c);
    } catch (const Error&) {
    }
  }
  try {
    const ModelConfig c =
        llama2c_config(reinterpret_cast<const std::byte*>(data), size, "fuzz.bin");
    FUZZ_ASSERT(llama2c_file_bytes(c) == static_cast<int64_t>(size));
    int64_t offset = kLlama2cHeaderBytes;
    for (const Llama2cArray& a : llama2c_layout(c)) offset += 4 * num_elements(a.shape);
    FUZZ_ASSERT(offset == static_cast<int64_t>(size));
  } catch (const Error&) {
  }
  return 0;
}

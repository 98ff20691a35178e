// The safetensors header of a whole file (model/io/safetensors_format.h):
// the input is the file. What the parser accepts must describe tensors that
// tile the data bytes exactly; each is read whole, so an offset beyond the
// input is a sanitizer report.
#include <algorithm>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "model/io/block_copy.h"
#include "model/io/safetensors_format.h"
#include "sharding/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  try {
    const auto* bytes = reinterpret_cast<const std::byte*>(data);
    const SafetensorsHeader h = parse_safetensors_header(bytes, size, "fuzz.safetensors");
    FUZZ_ASSERT(h.data_start >= 8 && h.data_start <= size);
    const uint64_t data_bytes = size - h.data_start;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const SafetensorsTensor& t : h.tensors) {
      FUZZ_ASSERT(t.begin <= t.end && t.end <= data_bytes);
      FUZZ_ASSERT(static_cast<uint64_t>(num_elements(t.shape)) * element_bytes(t.dtype) ==
                  t.end - t.begin);
      fuzz::touch(bytes + h.data_start + t.begin, t.end - t.begin);
      ranges.emplace_back(t.begin, t.end);
    }
    std::sort(ranges.begin(), ranges.end());
    uint64_t covered = 0;
    for (const auto& [begin, end] : ranges) {
      FUZZ_ASSERT(begin == covered);
      covered = end;
    }
    FUZZ_ASSERT(covered == data_bytes);
  } catch (const Error&) {
  }
  return 0;
}

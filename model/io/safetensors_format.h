// The safetensors file format: header parsing (validating everything a
// reader relies on) and dtype names shared by the writer. Format facts:
// docs/DESIGN.md §5.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "model/io/mapped_file.h"
#include "sharding/dtype.h"
#include "sharding/named_sharding.h"

namespace meshlm {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::f32;  // f32, bf16, f16, or u8 (pre-quantized data)
  Shape shape;
  uint64_t begin = 0;  // data_offsets, relative to the first byte after the header
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t data_start = 0;  // 8 + N
  std::vector<SafetensorsTensor> tensors;
};

// Largest header accepted (the format's reference implementation uses 100 MB).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Validates the header length, the JSON, every entry's dtype (F32, BF16, F16),
// shape and data_offsets (within the file, consistent with dtype x shape).
// Errors name the file and the tensor.
SafetensorsHeader parse_safetensors_header(const MappedFile& file);
// The same on the `size` bytes of a whole file at `data` (in memory);
// `path` names it in errors.
SafetensorsHeader parse_safetensors_header(const std::byte* data, uint64_t size,
                                           const std::string& path);

// The "weight_map" of a model.safetensors.index.json (`path` names it in
// errors): tensor name -> shard file name, each a relative path without
// '..' (shard files live in the model directory).
std::map<std::string, std::string> parse_safetensors_index(const nlohmann::json& index,
                                                           const std::string& path);

// What a writer puts before the data: the 8-byte length and the JSON header
// (with "__metadata__", padded with spaces to 8 bytes) of `tensors` stored
// back to back in order; sets each one's begin/end. Returns the data bytes.
uint64_t safetensors_header(std::vector<SafetensorsTensor>& tensors, std::string& bytes);

// "F32", "BF16", "F16", "U8".
const char* safetensors_dtype_name(DType t);

}  // namespace meshlm

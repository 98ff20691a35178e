// The safetensors file format (DESIGN.md §5): 8-byte little-endian header
// length N, N bytes of JSON (name -> {dtype, shape, data_offsets}, optional
// __metadata__), then the raw data. Parsing validates everything a reader
// relies on; the writer helpers are shared by checkpoint_writer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/io/mapped_file.h"
#include "sharding/dtype.h"
#include "sharding/named_sharding.h"

namespace meshlm {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::f32;  // f32, bf16 or f16
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

// "F32", "BF16", "F16".
const char* safetensors_dtype_name(DType t);

}  // namespace meshlm

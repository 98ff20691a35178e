#include "model/io/safetensors_format.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "model/io/block_copy.h"
#include "sharding/error.h"

namespace meshlm {

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::bf16:
      return "BF16";
    case DType::f16:
      return "F16";
    default:
      MESHLM_FAIL("dtype " << dtype_name(t) << " cannot be written to safetensors here");
  }
}

namespace {

DType parse_st_dtype(const std::string& s, const std::string& tensor, const std::string& path) {
  if (s == "F32") return DType::f32;
  if (s == "BF16") return DType::bf16;
  if (s == "F16") return DType::f16;
  MESHLM_FAIL("tensor '" << tensor << "' in " << path << " has dtype " << s
                         << ", which is not supported (supported: F32, BF16, F16)");
}

uint64_t get_uint(const nlohmann::json& v, const std::string& what, const std::string& tensor,
                  const std::string& path) {
  if (!v.is_number_unsigned())
    MESHLM_FAIL("tensor '" << tensor << "' in " << path << " has an invalid " << what << " entry "
                           << v.dump() << " (expected a non-negative integer)");
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const MappedFile& file) {
  const std::string& path = file.path();
  if (file.size() < 8)
    MESHLM_FAIL("safetensors file " << path << " is truncated: it has " << file.size()
                                    << " bytes, fewer than the 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  if (n > kMaxSafetensorsHeaderBytes)
    MESHLM_FAIL("safetensors file " << path << " declares a header of " << n
                                    << " bytes, more than the " << kMaxSafetensorsHeaderBytes
                                    << " allowed: not a safetensors file, or corrupt");
  if (n < 2 || n > file.size() - 8)
    MESHLM_FAIL("safetensors file " << path << " declares a header of " << n
                                    << " bytes but the file has " << file.size()
                                    << " bytes: truncated or corrupt");
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, text + n);
  } catch (const nlohmann::json::exception& e) {
    MESHLM_FAIL("the header of safetensors file " << path << " is not valid JSON: " << e.what());
  }
  if (!j.is_object())
    MESHLM_FAIL("the header of safetensors file " << path << " is not a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_bytes = file.size() - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const nlohmann::json& e = it.value();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets") || !e["dtype"].is_string() || !e["shape"].is_array() ||
        !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
      MESHLM_FAIL("tensor '" << name << "' in " << path
                             << " has a malformed header entry (expected {dtype, shape, "
                                "data_offsets: [begin, end]}): "
                             << e.dump());
    SafetensorsTensor t;
    t.name = name;
    t.dtype = parse_st_dtype(e["dtype"].get<std::string>(), name, path);
    __int128 elems = 1;
    for (const auto& d : e["shape"]) {
      const uint64_t v = get_uint(d, "shape", name, path);
      t.shape.push_back(static_cast<int64_t>(v));
      elems *= v;
      if (elems > (static_cast<__int128>(1) << 62))
        MESHLM_FAIL("tensor '" << name << "' in " << path << " has an absurd shape "
                               << e["shape"].dump());
    }
    t.begin = get_uint(e["data_offsets"][0], "data_offsets", name, path);
    t.end = get_uint(e["data_offsets"][1], "data_offsets", name, path);
    if (t.begin > t.end || t.end > data_bytes)
      MESHLM_FAIL("tensor '" << name << "' in " << path << " has data_offsets [" << t.begin << ", "
                             << t.end << "] outside the file's " << data_bytes
                             << " data bytes: truncated or corrupt");
    const __int128 need = elems * element_bytes(t.dtype);
    if (static_cast<__int128>(t.end - t.begin) != need)
      MESHLM_FAIL("tensor '" << name << "' in " << path << " has data_offsets [" << t.begin << ", "
                             << t.end << "] holding " << (t.end - t.begin) << " bytes, but dtype "
                             << e["dtype"].get<std::string>() << " and shape "
                             << shape_to_string(t.shape) << " need " << static_cast<uint64_t>(need)
                             << " bytes");
    h.tensors.push_back(std::move(t));
  }
  return h;
}

}  // namespace meshlm

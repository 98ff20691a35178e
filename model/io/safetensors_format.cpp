#include "model/io/safetensors_format.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "model/io/block_copy.h"
#include "sharding/checked.h"
#include "sharding/device_spec.h"
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
    case DType::u8:
      return "U8";
    default:
      MESHLM_FAIL("dtype " << dtype_name(t) << " cannot be written to safetensors here");
  }
}

namespace {

// At most 60 characters of something read from the file, for messages: a
// message identifies the problem, it does not echo the file.
std::string excerpt(const std::string& s, size_t max = 60) {
  return s.size() > max ? s.substr(0, max - 3) + "..." : s;
}

DType parse_st_dtype(const std::string& s, const std::string& tensor, const std::string& path) {
  if (s == "F32") return DType::f32;
  if (s == "BF16") return DType::bf16;
  if (s == "F16") return DType::f16;
  if (s == "U8") return DType::u8;  // the data of pre-quantized tensors (docs/DESIGN.md §5)
  MESHLM_FAIL("tensor '" << tensor << "' in " << path << " has dtype " << excerpt(s)
                         << ", which is not supported (supported: F32, BF16, F16, U8)");
}

// Parses the header JSON, refusing a key that appears twice in one object
// (two entries for one tensor would silently share or shadow bytes) and
// nesting deeper than kMaxJsonDepth.
nlohmann::json parse_unique_keys(const char* text, uint64_t n, const std::string& path) {
  std::vector<std::set<std::string>> keys;  // per open object
  const std::string where = "the header of safetensors file " + path;
  const nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event,
                                                   nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    check_json_depth(depth, event == E::object_start || event == E::array_start, where);
    if (event == E::object_start) keys.emplace_back();
    if (event == E::object_end && !keys.empty()) keys.pop_back();
    if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
      MESHLM_FAIL("the header of safetensors file " << path << " has the key '"
                                                    << excerpt(parsed.get<std::string>())
                                                    << "' twice in one object: corrupt");
    return true;
  };
  try {
    return nlohmann::json::parse(text, text + n, cb);
  } catch (const nlohmann::json::exception& e) {
    MESHLM_FAIL("the header of safetensors file " << path
                                                  << " is not valid JSON: " << excerpt(e.what()));
  }
}

uint64_t get_uint(const nlohmann::json& v, const std::string& what, const std::string& tensor,
                  const std::string& path) {
  if (!v.is_number_unsigned())
    MESHLM_FAIL("tensor '" << tensor << "' in " << path << " has an invalid " << what << " entry "
                           << excerpt(v.dump()) << " (expected a non-negative integer)");
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const MappedFile& file) {
  return parse_safetensors_header(file.data(), file.size(), file.path());
}

SafetensorsHeader parse_safetensors_header(const std::byte* data, uint64_t size,
                                           const std::string& path) {
  if (size < 8)
    MESHLM_FAIL("safetensors file " << path << " is truncated: it has " << size
                                    << " bytes, fewer than the 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > kMaxSafetensorsHeaderBytes)
    MESHLM_FAIL("safetensors file " << path << " declares a header of " << n
                                    << " bytes, more than the " << kMaxSafetensorsHeaderBytes
                                    << " allowed: not a safetensors file, or corrupt");
  if (n == 0)
    MESHLM_FAIL("safetensors file " << path << " declares an empty header (length 0): corrupt");
  if (n < 2 || n > size - 8)
    MESHLM_FAIL("safetensors file " << path << " declares a header of " << n
                                    << " bytes but the file has " << size
                                    << " bytes: truncated or corrupt");
  const char* text = reinterpret_cast<const char*>(data + 8);
  const nlohmann::json j = parse_unique_keys(text, n, path);
  if (!j.is_object())
    MESHLM_FAIL("the header of safetensors file " << path << " is not a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_bytes = size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string name = excerpt(it.key(), 200);  // for messages
    const nlohmann::json& e = it.value();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets") || !e["dtype"].is_string() || !e["shape"].is_array() ||
        !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
      MESHLM_FAIL("tensor '" << name << "' in " << path
                             << " has a malformed header entry (expected {dtype, shape, "
                                "data_offsets: [begin, end]}): "
                             << excerpt(e.dump()));
    SafetensorsTensor t;
    t.name = it.key();
    t.dtype = parse_st_dtype(e["dtype"].get<std::string>(), name, path);
    for (const auto& d : e["shape"]) {
      const uint64_t v = get_uint(d, "shape", name, path);
      if (v > static_cast<uint64_t>(kMaxDimension))
        MESHLM_FAIL("tensor '" << name << "' in " << path << " has a dimension of " << v
                               << " (at most " << kMaxDimension << ")");
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const int64_t elems = num_elements(t.shape, "tensor '" + name + "' in " + path);
    t.begin = get_uint(e["data_offsets"][0], "data_offsets", name, path);
    t.end = get_uint(e["data_offsets"][1], "data_offsets", name, path);
    if (t.begin > t.end)
      MESHLM_FAIL("tensor '" << name << "' in " << path << " has reversed data_offsets [" << t.begin
                             << ", " << t.end << "] (begin after end): corrupt");
    if (t.end > data_bytes)
      MESHLM_FAIL("tensor '" << name << "' in " << path << " has data_offsets [" << t.begin << ", "
                             << t.end << "] outside the file's " << data_bytes
                             << " data bytes: truncated or corrupt");
    const int64_t need =
        checked_mul(elems, element_bytes(t.dtype), "bytes of tensor '" + name + "' in " + path);
    if (t.end - t.begin != static_cast<uint64_t>(need))
      MESHLM_FAIL("tensor '" << name << "' in " << path << " has data_offsets [" << t.begin << ", "
                             << t.end << "] holding " << (t.end - t.begin) << " bytes, but dtype "
                             << e["dtype"].get<std::string>() << " and shape "
                             << shape_to_string(t.shape) << " need " << need << " bytes");
    h.tensors.push_back(std::move(t));
  }
  // As the reference parser: sorted by offset, the tensors tile the data
  // exactly — no overlap (two tensors sharing bytes), no gap, nothing after.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : h.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const SafetensorsTensor *a = by_offset[i - 1], *b = by_offset[i];
    if (b->begin < a->end)
      MESHLM_FAIL("tensors '" << excerpt(a->name, 200) << "' [" << a->begin << ", " << a->end
                              << ") and '" << excerpt(b->name, 200) << "' [" << b->begin << ", "
                              << b->end << ") in " << path << " overlap: corrupt");
  }
  uint64_t covered = 0;
  for (const SafetensorsTensor* t : by_offset) {
    if (t->begin > covered)
      MESHLM_FAIL("safetensors file "
                  << path << " has " << t->begin - covered << " unused data bytes before tensor '"
                  << excerpt(t->name, 200) << "' (at " << covered << "): corrupt");
    covered = t->end;
  }
  if (covered != data_bytes)
    MESHLM_FAIL("the tensors of safetensors file " << path << " cover " << covered << " of its "
                                                   << data_bytes
                                                   << " data bytes: trailing data, or corrupt");
  return h;
}

std::map<std::string, std::string> parse_safetensors_index(const nlohmann::json& j,
                                                           const std::string& path) {
  namespace fs = std::filesystem;
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    MESHLM_FAIL("index " << path << " has no \"weight_map\" object");
  std::map<std::string, std::string> file_of;  // tensor -> file name
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    const std::string tensor = excerpt(it.key(), 200);
    if (!it.value().is_string())
      MESHLM_FAIL("index " << path << " maps tensor '" << tensor
                           << "' to something that is not a file name");
    const std::string shard = it.value().get<std::string>();
    // Shard files live in the model directory: a relative name without
    // '..' (an index must not make us open /etc/passwd or ../x).
    const fs::path rel(shard);
    bool inside = !shard.empty() && rel.is_relative() && !rel.has_root_name();
    for (const auto& part : rel) inside = inside && part != "..";
    if (!inside)
      MESHLM_FAIL("index " << path << " maps tensor '" << tensor << "' to '" << excerpt(shard, 100)
                           << "', outside the model directory (shard files are named "
                              "relative to it, without '..')");
    file_of[it.key()] = shard;
  }
  return file_of;
}

uint64_t safetensors_header(std::vector<SafetensorsTensor>& tensors, std::string& bytes) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (SafetensorsTensor& t : tensors) {
    t.begin = offset;
    t.end = offset + static_cast<uint64_t>(num_elements(t.shape) * element_bytes(t.dtype));
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {t.begin, t.end}}};
    offset = t.end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data to 8 bytes
  const uint64_t n = text.size();
  bytes.assign(reinterpret_cast<const char*>(&n), 8);
  bytes += text;
  return offset;
}

}  // namespace meshlm

#include "sharding/device_spec.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "sharding/error.h"
#include "sharding/json_field.h"
#include "sharding/units.h"

#ifndef MESHLM_DEFAULT_CONFIG_DIR
#define MESHLM_DEFAULT_CONFIG_DIR "configs"
#endif

namespace meshlm {
namespace fs = std::filesystem;

double DeviceSpec::flops_for(DType t) const {
  for (const char* key : {dtype_name(t), "bf16", "fp32"}) {
    auto it = peak_flops.find(key);
    if (it != peak_flops.end() && it->second > 0) return it->second;
  }
  MESHLM_FAIL("device '" << name << "' has no peak_flops entry for " << dtype_name(t));
}

DeviceSpec DeviceSpec::from_json(const nlohmann::json& j) {
  if (!j.is_object()) MESHLM_FAIL("a device spec must be a JSON object");
  DeviceSpec d;
  d.name = json_field_or<std::string>(j, "name", "unnamed", "device spec");
  const std::string where = "device spec '" + d.name + "'";
  d.description = json_field_or<std::string>(j, "description", "", where);
  d.device_count = json_field<int>(j, "device_count", where);
  d.hbm_bytes = json_field<uint64_t>(j, "hbm_bytes", where);
  d.hbm_bandwidth = json_field<double>(j, "hbm_bandwidth", where);
  d.peak_flops = json_field<std::map<std::string, double>>(j, "peak_flops", where);
  d.interconnect_bandwidth = json_field<double>(j, "interconnect_bandwidth", where);
  d.interconnect_latency = json_field<double>(j, "interconnect_latency", where);
  if (d.device_count < 1) MESHLM_FAIL("device spec " << where << ": device_count must be >= 1");
  if (d.hbm_bytes == 0) MESHLM_FAIL("device spec " << where << ": hbm_bytes must be > 0");
  if (d.hbm_bandwidth <= 0 || d.interconnect_bandwidth <= 0)
    MESHLM_FAIL("device spec " << where << ": bandwidths must be > 0");
  return d;
}

nlohmann::json DeviceSpec::to_json() const {
  return nlohmann::json{{"name", name},
                        {"description", description},
                        {"device_count", device_count},
                        {"hbm_bytes", hbm_bytes},
                        {"hbm_bandwidth", hbm_bandwidth},
                        {"peak_flops", peak_flops},
                        {"interconnect_bandwidth", interconnect_bandwidth},
                        {"interconnect_latency", interconnect_latency}};
}

DeviceSpec DeviceSpec::load(const std::string& name_or_path) {
  return from_json(read_json_file(resolve_config("devices", name_or_path)));
}

std::string config_dir() {
  if (const char* env = std::getenv("MESHLM_CONFIG_DIR"); env && *env) return env;
  return MESHLM_DEFAULT_CONFIG_DIR;
}

std::string resolve_config(const std::string& kind, const std::string& name_or_path) {
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  std::error_code ec;
  if (fs::exists(name_or_path, ec)) check_regular_file(name_or_path, kind + " config");
  const fs::path dir = fs::path(config_dir()) / kind;
  const fs::path candidate = dir / (name_or_path + ".json");
  if (fs::is_regular_file(candidate)) return candidate.string();
  std::vector<std::string> known;
  if (fs::is_directory(dir))
    for (auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") known.push_back(e.path().stem().string());
  const std::string names = join(known, ", ");
  MESHLM_FAIL("no " << kind << " config '" << name_or_path << "': not a file, and not "
                    << candidate.string() << " (known: " << (names.empty() ? "none" : names)
                    << ")");
}

void check_regular_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_type type = fs::status(path, ec).type();
  if (type == fs::file_type::regular) return;
  if (type == fs::file_type::not_found)
    MESHLM_FAIL("cannot open " << what << " '" << path << "': no such file");
  const char* kind = type == fs::file_type::not_found   ? "does not exist"
                     : type == fs::file_type::directory ? "is a directory"
                     : type == fs::file_type::fifo      ? "is a FIFO (named pipe)"
                     : type == fs::file_type::socket    ? "is a socket"
                     : type == fs::file_type::block || type == fs::file_type::character
                         ? "is a device"
                         : "is not a regular file";
  MESHLM_FAIL(what << " '" << path << "' " << kind << " (expected a regular file)");
}

nlohmann::json read_json_file(const std::string& path) {
  check_regular_file(path, "JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) MESHLM_FAIL("cannot open '" << path << "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_json(text, "'" + path + "'");
}

void check_json_depth(int depth, bool container_start, const std::string& what) {
  if (container_start && depth >= kMaxJsonDepth)
    MESHLM_FAIL(what << " nests arrays and objects more than " << kMaxJsonDepth
                     << " levels deep: corrupt or not meant for meshlm");
}

nlohmann::json parse_json(std::string_view text, const std::string& what) {
  using E = nlohmann::json::parse_event_t;
  const nlohmann::json::parser_callback_t limit_depth = [&](int depth, E event, nlohmann::json&) {
    check_json_depth(depth, event == E::object_start || event == E::array_start, what);
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit_depth);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
    MESHLM_FAIL(what << " is not valid JSON: " << e.what());
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) MESHLM_FAIL("cannot write '" << path << "': " << std::strerror(errno));
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  write_text_file(path, j.dump(2) + "\n");
}

}  // namespace meshlm

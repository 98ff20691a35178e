// DeviceSpec: what one accelerator of a kind offers (configs/devices/*.json).
// Pure data, used by the planner's cost model and by mesh/ to size each
// rank's simulated device memory. Device files store bytes, B/s and FLOP/s.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "sharding/dtype.h"

namespace meshlm {

struct DeviceSpec {
  std::string name;                          // "tpu-v4-8"
  std::string description;                   // free text
  int device_count = 1;                      // devices in the slice/node
  uint64_t hbm_bytes = 0;                    // memory per device, bytes
  double hbm_bandwidth = 0;                  // B/s per device
  std::map<std::string, double> peak_flops;  // dtype name ("bf16", "fp32", "int8") -> FLOP/s
  double interconnect_bandwidth = 0;         // B/s per link, one direction
  double interconnect_latency = 0;           // seconds per message (alpha)

  // FLOP/s for a compute dtype; falls back to bf16 then fp32; throws if none.
  double flops_for(DType t) const;

  static DeviceSpec from_json(const nlohmann::json& j);  // validates fields, errors name them
  nlohmann::json to_json() const;
  // A path to a JSON file, or a name looked up as configs/devices/<name>.json.
  static DeviceSpec load(const std::string& name_or_path);
};

// Resolves `name_or_path` for a config kind ("devices", "models", "plans"):
// an existing file path is returned as is; otherwise <config dir>/<kind>/<name>.json.
// The config dir is $MESHLM_CONFIG_DIR, else the source tree's configs/.
// Throws naming what was tried and the names available.
std::string resolve_config(const std::string& kind, const std::string& name_or_path);
std::string config_dir();

// Throws unless `path` is a regular file (or a link to one), naming what it is
// instead: a FIFO, socket or device would block or never end when read.
// Every reader of a user-given file calls it before opening the file.
void check_regular_file(const std::string& path, const std::string& what = "file");

// Reads a whole JSON file (a regular file); errors name the file and the parse position.
nlohmann::json read_json_file(const std::string& path);
// Parses the text of a JSON file; errors begin with `what` ("<what> is not
// valid JSON: ..."). Nesting deeper than kMaxJsonDepth is refused.
nlohmann::json parse_json(std::string_view text, const std::string& what);

// The deepest nesting of arrays and objects a JSON input may have (configs
// nest 3 levels, plans 5): nlohmann::json copies, compares and dumps values
// recursively, so deeper input could overflow the stack.
constexpr int kMaxJsonDepth = 64;
// For the callback of a JSON parse (nlohmann's parser_callback_t): throws,
// naming `what`, when an array or object starts `depth` levels deep, with
// depth >= kMaxJsonDepth.
void check_json_depth(int depth, bool container_start, const std::string& what);
// Writes `text`, or `j` indented by 2 with a final newline; errors name the file.
void write_text_file(const std::string& path, const std::string& text);
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace meshlm

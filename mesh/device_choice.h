// Which simulated device each rank is: a DeviceSpec (configs/devices/*.json)
// and its memory capacity, optionally overridden (--device-memory 64MiB).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sharding/device_spec.h"

namespace meshlm {

struct DeviceChoice {
  DeviceSpec spec;        // the device's figures (capacity overridden when asked)
  uint64_t capacity = 0;  // bytes of simulated memory per rank
  bool overridden = false;
  std::string describe() const;  // "tpu-v4-8 (32.00 GiB HBM, 1.20e+12 B/s)"
};

// `device`: a name in configs/devices/ or a JSON path ("" = "cpu-rank");
// `memory_override`: "" or a size such as "64MiB" (replaces hbm_bytes).
DeviceChoice choose_device(const std::string& device, const std::string& memory_override);

inline constexpr const char* kDefaultDevice = "cpu-rank";

}  // namespace meshlm

#include "mesh/device_choice.h"

#include <cstdio>

#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

DeviceChoice choose_device(const std::string& device, const std::string& memory_override) {
  DeviceChoice c;
  c.spec = DeviceSpec::load(device.empty() ? kDefaultDevice : device);
  c.capacity = c.spec.hbm_bytes;
  if (!memory_override.empty()) {
    c.capacity = parse_bytes(memory_override);
    if (c.capacity == 0)
      MESHLM_FAIL("--device-memory must be > 0 (got '" << memory_override << "')");
    c.spec.hbm_bytes = c.capacity;
    c.overridden = true;
  }
  return c;
}

std::string DeviceChoice::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s (%s memory%s, %.3g B/s)", spec.name.c_str(),
                format_bytes(static_cast<double>(capacity)).c_str(),
                overridden ? " (override)" : "", spec.hbm_bandwidth);
  return buf;
}

}  // namespace meshlm

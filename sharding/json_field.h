// Typed fields of a JSON object, for the readers of JSON files (plans, device
// specs, model configs): errors name the object (`where`), the key and what
// is wrong with it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sharding/error.h"

namespace meshlm {

// A field that is present and not null.
inline bool has_field(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null();
}

// The field as a T; throws "<where> has no field '<key>'" or "<where>: field
// '<key>' has the wrong type (<value>)".
template <class T>
T json_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!has_field(j, key)) MESHLM_FAIL(where << " has no field '" << key << "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    MESHLM_FAIL(where << ": field '" << key << "' has the wrong type (" << j.at(key).dump() << ")");
  }
}

// The field, or `fallback` when it is absent or null.
template <class T>
T json_field_or(const nlohmann::json& j, const char* key, T fallback, const std::string& where) {
  return has_field(j, key) ? json_field<T>(j, key, where) : fallback;
}

}  // namespace meshlm

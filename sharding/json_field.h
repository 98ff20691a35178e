// Typed fields of a JSON object, for the readers of JSON files (plans, device
// specs, model configs): errors name the object (`where`), the key and what
// is wrong with it.
#pragma once

#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "sharding/error.h"

namespace meshlm {

namespace detail {

// At most 80 characters of a value, for messages.
inline std::string excerpt(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

template <class T>
struct is_vector : std::false_type {};
template <class E, class A>
struct is_vector<std::vector<E, A>> : std::true_type {};
template <class T>
struct is_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};

// Throws unless every integer T holds is a JSON integer within range.
template <class T>
void check_integers(const nlohmann::json& v, const char* key, const std::string& where) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!v.is_number()) return;  // the wrong type: get<T>() says so
    bool ok = v.is_number_integer();
    if (ok && v.is_number_unsigned())
      ok = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    else if (ok)
      ok = v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
           (std::is_unsigned_v<T> ||
            v.get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max()));
    if (!ok)
      MESHLM_FAIL(where << ": field '" << key << "' is " << excerpt(v) << ", expected an integer "
                        << "in " << +std::numeric_limits<T>::min() << ".."
                        << +std::numeric_limits<T>::max());
  } else if constexpr (is_vector<T>::value) {
    if (v.is_array())
      for (const auto& e : v) check_integers<typename T::value_type>(e, key, where);
  } else if constexpr (is_map<T>::value) {
    if (v.is_object())
      for (const auto& e : v) check_integers<typename T::mapped_type>(e, key, where);
  }
}

}  // namespace detail

// A field that is present and not null.
inline bool has_field(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null();
}

// The field as a T; throws "<where> has no field '<key>'" or "<where>: field
// '<key>' has the wrong type (<value>)".
//
// Integers (and integers inside arrays and maps: std::vector<int64_t>,
// Shape, std::map<std::string, uint64_t>) must be JSON integers within T's
// range: 64.5, 1e30 or -1 for an unsigned field are errors naming the field,
// never a silent conversion.
template <class T>
T json_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!has_field(j, key)) MESHLM_FAIL(where << " has no field '" << key << "'");
  const nlohmann::json& v = j.at(key);
  detail::check_integers<T>(v, key, where);
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception&) {
    MESHLM_FAIL(where << ": field '" << key << "' has the wrong type (" << detail::excerpt(v)
                      << ")");
  }
}

// The field, or `fallback` when it is absent or null.
template <class T>
T json_field_or(const nlohmann::json& j, const char* key, T fallback, const std::string& where) {
  return has_field(j, key) ? json_field<T>(j, key, where) : fallback;
}

}  // namespace meshlm

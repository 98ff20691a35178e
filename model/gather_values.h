// all_gather of plain values (ids, byte counts, seconds) over a group, for
// collecting results and reports on every rank. The collectives move fp32
// elements; a gather only copies them, so any trivially copyable values
// travel bit-exactly as their bytes reinterpreted as floats.
#pragma once

#include <cstring>
#include <type_traits>
#include <vector>

#include "collectives/collectives.h"
#include "sharding/error.h"

namespace meshlm {

// Every rank passes `mine` of the same length; returns the concatenation over
// the group's ranks (group-rank order).
template <class T>
std::vector<T> all_gather_values(const AxisGroup& g, const std::vector<T>& mine) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % sizeof(float) == 0);
  const size_t floats = mine.size() * sizeof(T) / sizeof(float);
  std::vector<float> send(floats), recv(floats * static_cast<size_t>(g.size));
  if (floats) std::memcpy(send.data(), mine.data(), floats * sizeof(float));
  all_gather(g, send.data(), recv.data(), floats, DType::f32);
  std::vector<T> out(mine.size() * static_cast<size_t>(g.size));
  if (!out.empty()) std::memcpy(out.data(), recv.data(), recv.size() * sizeof(float));
  return out;
}

}  // namespace meshlm

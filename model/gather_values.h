// all_gather of per-rank values or records (ids, counters, timings) over a
// group, for collecting results and reports on every rank: each travels as
// its own type (collectives.h), records as their bytes.
#pragma once

#include <span>
#include <vector>

#include "collectives/collectives.h"

namespace meshlm {

// Every rank passes `mine` of the same length; returns the concatenation over
// the group's ranks (group-rank order).
template <class T>
std::vector<T> all_gather_values(const AxisGroup& g, const std::vector<T>& mine) {
  std::vector<T> out(mine.size() * static_cast<size_t>(g.size));
  all_gather(g, std::span<const T>(mine), std::span<T>(out));
  return out;
}

}  // namespace meshlm

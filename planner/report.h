// Presenting a mesh search: the readable table (memory per device, speed),
// the same figures as JSON, and the nothing-fits message. Memory figures use
// binary units (GiB = 2^30 B) with the unit printed; device capacities are
// also given in decimal GB (10^9 B); rates in decimal units (TB/s, TFLOP/s).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "planner/mesh_search.h"

namespace meshlm {

std::string format_search_table(const SearchResult& result);
nlohmann::json search_to_json(const SearchResult& result);
// Empty when a mesh was chosen.
std::string nothing_fits_message(const SearchResult& result);

}  // namespace meshlm

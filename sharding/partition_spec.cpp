#include "sharding/partition_spec.h"

#include <nlohmann/json.hpp>

#include "sharding/abstract_mesh.h"
#include "sharding/error.h"

namespace meshlm {

PartitionSpec PartitionSpec::of(std::initializer_list<const char*> dims) {
  std::vector<Entry> out;
  for (const char* d : dims) {
    if (d == nullptr || *d == '\0')
      out.emplace_back();
    else
      out.push_back(Entry{d});
  }
  return PartitionSpec(std::move(out));
}

bool PartitionSpec::is_replicated() const {
  for (auto& e : dims_)
    if (!e.empty()) return false;
  return true;
}

std::vector<std::string> PartitionSpec::axes() const {
  std::vector<std::string> out;
  for (auto& e : dims_) out.insert(out.end(), e.begin(), e.end());
  return out;
}

void PartitionSpec::validate(const AbstractMesh& mesh, const std::string& what) const {
  std::vector<std::string> seen;
  for (size_t d = 0; d < dims_.size(); ++d) {
    for (auto& axis : dims_[d]) {
      if (!mesh.has_axis(axis))
        MESHLM_FAIL("spec " << to_string() << " of " << what << " names axis '" << axis
                            << "' in dimension " << d << ", which is not a mesh axis ("
                            << mesh.to_string() << ")");
      for (auto& s : seen)
        if (s == axis)
          MESHLM_FAIL("spec " << to_string() << " of " << what << " uses axis '" << axis
                              << "' more than once (an axis may shard one dimension only)");
      seen.push_back(axis);
    }
  }
}

PartitionSpec PartitionSpec::from_json(const nlohmann::json& j) {
  if (!j.is_array())
    MESHLM_FAIL("a PartitionSpec must be a JSON array such as [\"mp\", null], got " << j.dump());
  std::vector<Entry> dims;
  for (auto& e : j) {
    if (e.is_null())
      dims.emplace_back();
    else if (e.is_string())
      dims.push_back(Entry{e.get<std::string>()});
    else if (e.is_array()) {
      Entry entry;
      for (auto& a : e) {
        if (!a.is_string())
          MESHLM_FAIL("PartitionSpec entry " << e.dump() << " must list axis names as strings");
        entry.push_back(a.get<std::string>());
      }
      dims.push_back(entry);
    } else {
      MESHLM_FAIL("PartitionSpec entry " << e.dump()
                                         << " must be null, an axis name or a list of axis names");
    }
  }
  return PartitionSpec(std::move(dims));
}

nlohmann::json PartitionSpec::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (auto& e : dims_) {
    if (e.empty())
      j.push_back(nullptr);
    else if (e.size() == 1)
      j.push_back(e[0]);
    else
      j.push_back(e);
  }
  return j;
}

std::string PartitionSpec::to_string() const {
  std::string s = "P(";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ", ";
    if (dims_[i].empty())
      s += "None";
    else if (dims_[i].size() == 1)
      s += "'" + dims_[i][0] + "'";
    else {
      s += "(";
      for (size_t k = 0; k < dims_[i].size(); ++k) s += (k ? ", '" : "'") + dims_[i][k] + "'";
      s += ")";
    }
  }
  return s + ")";
}

}  // namespace meshlm

#include "sharding/abstract_mesh.h"

#include <sstream>

#include "sharding/checked.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {

AbstractMesh::AbstractMesh(std::vector<std::pair<std::string, int>> axes) : axes_(std::move(axes)) {
  if (axes_.empty()) MESHLM_FAIL("a mesh needs at least one axis");
  for (size_t i = 0; i < axes_.size(); ++i) {
    if (axes_[i].first.empty()) MESHLM_FAIL("mesh axis " << i << " has an empty name");
    if (axes_[i].second < 1)
      MESHLM_FAIL("mesh axis '" << axes_[i].first << "' has size " << axes_[i].second
                                << " (expected >= 1)");
    for (size_t j = 0; j < i; ++j)
      if (axes_[j].first == axes_[i].first)
        MESHLM_FAIL("mesh axis name '" << axes_[i].first << "' appears twice");
  }
  int64_t n = 1;
  for (auto& a : axes_) n = checked_mul(n, int64_t{a.second}, "mesh size");
  if (n > kMaxDimension)
    MESHLM_FAIL("mesh " << shape_string() << " has " << n << " devices (at most " << kMaxDimension
                        << ")");
}

AbstractMesh AbstractMesh::parse(const std::string& shape, const std::vector<std::string>& names) {
  std::vector<int> sizes;
  std::stringstream ss(shape);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size() || v < 1)
      MESHLM_FAIL("bad mesh shape '" << shape << "' (expected sizes >= 1 joined by 'x', e.g. 2x2)");
    sizes.push_back(v);
  }
  if (sizes.size() != names.size()) {
    MESHLM_FAIL("mesh shape '" << shape << "' has " << sizes.size() << " axes but " << names.size()
                               << " axis names were given (" << join(names, ",") << ")");
  }
  std::vector<std::pair<std::string, int>> axes;
  for (size_t i = 0; i < sizes.size(); ++i) axes.emplace_back(names[i], sizes[i]);
  return AbstractMesh(std::move(axes));
}

int AbstractMesh::size() const {
  int n = 1;
  for (auto& a : axes_) n *= a.second;
  return n;
}

bool AbstractMesh::has_axis(const std::string& name) const {
  for (auto& a : axes_)
    if (a.first == name) return true;
  return false;
}

int AbstractMesh::axis_index(const std::string& name) const {
  for (size_t i = 0; i < axes_.size(); ++i)
    if (axes_[i].first == name) return static_cast<int>(i);
  MESHLM_FAIL("unknown mesh axis '" << name << "' (mesh axes: " << to_string() << ")");
}

int AbstractMesh::axis_size(const std::string& name) const {
  return axes_[axis_index(name)].second;
}

std::vector<std::string> AbstractMesh::axis_names() const {
  std::vector<std::string> out;
  for (auto& a : axes_) out.push_back(a.first);
  return out;
}

std::vector<int> AbstractMesh::shape() const {
  std::vector<int> out;
  for (auto& a : axes_) out.push_back(a.second);
  return out;
}

std::vector<int> AbstractMesh::coords_of(int rank) const {
  MESHLM_CHECK(rank >= 0 && rank < size(), "rank " << rank << " outside mesh of " << size());
  std::vector<int> c(axes_.size());
  for (int i = num_axes() - 1; i >= 0; --i) {
    c[i] = rank % axes_[i].second;
    rank /= axes_[i].second;
  }
  return c;
}

int AbstractMesh::rank_of(const std::vector<int>& coords) const {
  MESHLM_CHECK(coords.size() == axes_.size(), "coords rank mismatch");
  int r = 0;
  for (size_t i = 0; i < axes_.size(); ++i) r = r * axes_[i].second + coords[i];
  return r;
}

std::string AbstractMesh::shape_string() const {
  std::string s;
  for (auto& a : axes_) {
    if (!s.empty()) s += 'x';
    s += std::to_string(a.second);
  }
  return s;
}

std::string AbstractMesh::to_string() const {
  std::string s = "Mesh(";
  for (size_t i = 0; i < axes_.size(); ++i)
    s += (i ? ", '" : "'") + axes_[i].first + "': " + std::to_string(axes_[i].second);
  return s + ")";
}

}  // namespace meshlm

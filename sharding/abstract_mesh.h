// AbstractMesh: axis names and sizes only (JAX's jax.sharding.AbstractMesh).
// Devices are laid out row-major over the axes, the last axis fastest
// (rank = dp_index * mp_size + mp_index for the default ("dp","mp") mesh).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace meshlm {

class AbstractMesh {
 public:
  AbstractMesh() = default;
  // Throws meshlm::Error on an empty mesh, a size < 1 or a repeated name.
  explicit AbstractMesh(std::vector<std::pair<std::string, int>> axes);

  // "2x2" with names {"dp","mp"}: the number of sizes must equal the number
  // of names (errors name both).
  static AbstractMesh parse(const std::string& shape,
                            const std::vector<std::string>& names = {"dp", "mp"});

  const std::vector<std::pair<std::string, int>>& axes() const { return axes_; }
  int num_axes() const { return static_cast<int>(axes_.size()); }
  int size() const;  // product of axis sizes
  bool has_axis(const std::string& name) const;
  int axis_index(const std::string& name) const;  // throws naming the known axes
  int axis_size(const std::string& name) const;   // throws naming the known axes
  std::vector<std::string> axis_names() const;
  std::vector<int> shape() const;

  // Row-major rank <-> coordinates (one coordinate per axis).
  std::vector<int> coords_of(int rank) const;
  int rank_of(const std::vector<int>& coords) const;

  std::string shape_string() const;  // "2x2"
  std::string to_string() const;     // "Mesh('dp': 2, 'mp': 2)"

  bool operator==(const AbstractMesh& other) const { return axes_ == other.axes_; }

 private:
  std::vector<std::pair<std::string, int>> axes_;
};

}  // namespace meshlm

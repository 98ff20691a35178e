// PartitionSpec: how each dimension of a tensor maps onto mesh axes
// (JAX's jax.sharding.PartitionSpec). One entry per dimension: empty = None
// (replicated along that dimension), or one or more axis names (the dimension
// is split over the product of those axes, major to minor).
#pragma once

#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace meshlm {

class AbstractMesh;

class PartitionSpec {
 public:
  using Entry = std::vector<std::string>;  // {} = None

  PartitionSpec() = default;
  explicit PartitionSpec(std::vector<Entry> dims) : dims_(std::move(dims)) {}
  // PartitionSpec::of({"mp", ""}) : "" means None.
  static PartitionSpec of(std::initializer_list<const char*> dims);
  // n dimensions, all None.
  static PartitionSpec replicated(size_t rank) { return PartitionSpec(std::vector<Entry>(rank)); }

  size_t size() const { return dims_.size(); }
  const Entry& operator[](size_t i) const { return dims_[i]; }
  const std::vector<Entry>& dims() const { return dims_; }
  bool is_replicated() const;  // every entry None
  // Every axis this spec names (each at most once when valid).
  std::vector<std::string> axes() const;

  // Throws when an axis is not in the mesh or appears twice; `what` names the
  // tensor in the message.
  void validate(const AbstractMesh& mesh, const std::string& what) const;

  // JSON: [null, "mp"] or [["dp","mp"], null].
  static PartitionSpec from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  std::string to_string() const;  // "P('mp', None)"

  bool operator==(const PartitionSpec& o) const { return dims_ == o.dims_; }

 private:
  std::vector<Entry> dims_;
};

}  // namespace meshlm

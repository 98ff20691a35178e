// NamedSharding: a PartitionSpec bound to a mesh (JAX's NamedSharding).
// Answers which block of a global tensor a device holds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sharding/abstract_mesh.h"
#include "sharding/partition_spec.h"

namespace meshlm {

using Shape = std::vector<int64_t>;

std::string shape_to_string(const Shape& s);  // "[512, 64]"
// Checked (sharding/checked.h): a negative dimension or a product beyond int64
// throws naming `what` and the shape.
int64_t num_elements(const Shape& s, std::string_view what = "a tensor");

class NamedSharding {
 public:
  // Validates the spec against the mesh (unknown axis, axis used twice).
  NamedSharding(AbstractMesh mesh, PartitionSpec spec);

  const AbstractMesh& mesh() const { return mesh_; }
  const PartitionSpec& spec() const { return spec_; }

  // Number of shards along dimension d (product of its axes' sizes; 1 if None).
  int num_shards(size_t d) const;
  bool is_fully_replicated() const { return spec_.is_replicated(); }

  // Checks that the spec has one entry per dimension and that every sharded
  // dimension divides; the message names `what`, the dimension and the axes:
  // "dimension 0 of model.layers.3.mlp.up_proj.weight (size 172) is not
  // divisible by axis 'mp' (size 3)".
  void validate(const Shape& global_shape, const std::string& what) const;

  // The per-device block shape. Throws as validate() does.
  Shape shard_shape(const Shape& global_shape, const std::string& what = "tensor") const;
  // Offset of the block held by the device at `coords` (one per mesh axis).
  Shape shard_offset(const Shape& global_shape, const std::vector<int>& coords,
                     const std::string& what = "tensor") const;
  // Index of the shard along dimension d held by the device at `coords`.
  int shard_index(size_t d, const std::vector<int>& coords) const;

 private:
  AbstractMesh mesh_;
  PartitionSpec spec_;
};

}  // namespace meshlm

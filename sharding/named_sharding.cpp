#include "sharding/named_sharding.h"

#include "sharding/error.h"

namespace meshlm {

std::string shape_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t num_elements(const Shape& s, std::string_view what) {
  int64_t n = 1;
  for (auto d : s)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      MESHLM_FAIL("the number of elements of " << what << " " << shape_to_string(s)
                                               << (d < 0 ? " is negative" : " overflows int64"));
  return n;
}

NamedSharding::NamedSharding(AbstractMesh mesh, PartitionSpec spec)
    : mesh_(std::move(mesh)), spec_(std::move(spec)) {
  spec_.validate(mesh_, "tensor");
}

int NamedSharding::num_shards(size_t d) const {
  if (d >= spec_.size()) return 1;
  int n = 1;
  for (auto& axis : spec_[d]) n *= mesh_.axis_size(axis);
  return n;
}

void NamedSharding::validate(const Shape& shape, const std::string& what) const {
  if (spec_.size() != shape.size())
    MESHLM_FAIL("spec " << spec_.to_string() << " of " << what << " has " << spec_.size()
                        << " entries but the tensor has " << shape.size() << " dimensions "
                        << shape_to_string(shape));
  for (size_t d = 0; d < shape.size(); ++d) {
    const int n = num_shards(d);
    if (shape[d] % n != 0) {
      std::string axes;
      for (auto& a : spec_[d]) axes += (axes.empty() ? "'" : " x '") + a + "'";
      MESHLM_FAIL("dimension " << d << " of " << what << " (size " << shape[d]
                               << ") is not divisible by axis " << axes << " (size " << n << ")");
    }
  }
}

Shape NamedSharding::shard_shape(const Shape& shape, const std::string& what) const {
  validate(shape, what);
  Shape out = shape;
  for (size_t d = 0; d < shape.size(); ++d) out[d] = shape[d] / num_shards(d);
  return out;
}

int NamedSharding::shard_index(size_t d, const std::vector<int>& coords) const {
  MESHLM_CHECK(coords.size() == static_cast<size_t>(mesh_.num_axes()),
               "coords have " << coords.size() << " entries for a mesh of " << mesh_.num_axes());
  int idx = 0;
  for (auto& axis : spec_[d]) {
    const int a = mesh_.axis_index(axis);
    idx = idx * mesh_.axes()[a].second + coords[a];
  }
  return idx;
}

Shape NamedSharding::shard_offset(const Shape& shape, const std::vector<int>& coords,
                                  const std::string& what) const {
  Shape block = shard_shape(shape, what);
  Shape off(shape.size(), 0);
  for (size_t d = 0; d < shape.size(); ++d) off[d] = block[d] * shard_index(d, coords);
  return off;
}

}  // namespace meshlm

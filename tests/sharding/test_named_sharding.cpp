// Shard shapes and offsets for every kind of spec, and the errors that name
// the tensor, the dimension and the axis.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "common/test_util.h"
#include "sharding/named_sharding.h"

using namespace meshlm;
using meshlm::test::error_of;

namespace {

// Every element of the global tensor is owned by exactly (replication factor)
// devices and the blocks tile it: checked by counting coverage of each element.
void expect_tiles(const AbstractMesh& mesh, const PartitionSpec& spec, const Shape& shape) {
  const NamedSharding s(mesh, spec);
  const Shape block = s.shard_shape(shape);
  int replication = mesh.size();
  for (size_t d = 0; d < shape.size(); ++d) replication /= s.num_shards(d);
  std::vector<int> count(static_cast<size_t>(num_elements(shape)), 0);
  for (int rank = 0; rank < mesh.size(); ++rank) {
    const Shape off = s.shard_offset(shape, mesh.coords_of(rank));
    // iterate the block (2-D or 3-D)
    const int64_t b2 = shape.size() > 2 ? block[2] : 1;
    for (int64_t i = 0; i < block[0]; ++i)
      for (int64_t j = 0; j < block[1]; ++j)
        for (int64_t k = 0; k < b2; ++k) {
          int64_t idx = (off[0] + i) * shape[1] + off[1] + j;
          if (shape.size() > 2) idx = idx * shape[2] + off[2] + k;
          ++count[static_cast<size_t>(idx)];
        }
  }
  for (int c : count) ASSERT_EQ(c, replication) << spec.to_string();
}
}  // namespace

TEST(NamedSharding, ShardShapesForEverySpec) {
  const AbstractMesh mesh = AbstractMesh::parse("2x2");
  const Shape s = {8, 12};
  auto shard = [&](std::initializer_list<const char*> d) {
    return NamedSharding(mesh, PartitionSpec::of(d)).shard_shape(s, "w");
  };
  EXPECT_EQ(shard({"mp", ""}), (Shape{4, 12}));   // column-parallel
  EXPECT_EQ(shard({"", "mp"}), (Shape{8, 6}));    // row-parallel
  EXPECT_EQ(shard({"dp", "mp"}), (Shape{4, 6}));  // both axes
  EXPECT_EQ(shard({"mp", "dp"}), (Shape{4, 6}));
  EXPECT_EQ(shard({"", ""}), (Shape{8, 12}));  // replicated
  EXPECT_EQ(NamedSharding(mesh, PartitionSpec({{"dp", "mp"}, {}})).shard_shape(s), (Shape{2, 12}));
  EXPECT_EQ(NamedSharding(mesh, PartitionSpec({{}, {"mp", "dp"}})).shard_shape(s), (Shape{8, 3}));
  const AbstractMesh m14 = AbstractMesh::parse("1x4");
  EXPECT_EQ(NamedSharding(m14, PartitionSpec::of({"dp", "mp", "", ""})).shard_shape({4, 8, 16, 8}),
            (Shape{4, 2, 16, 8}));  // KV cache [B, K, S, hd]
  EXPECT_EQ(NamedSharding(m14, PartitionSpec::of({"mp"})).shard_shape({64}), (Shape{16}));
}

TEST(NamedSharding, BlocksTileTheTensor) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> mult(1, 4);
  const std::vector<PartitionSpec> specs = {
      PartitionSpec::of({"mp", ""}),      PartitionSpec::of({"", "mp"}),
      PartitionSpec::of({"dp", "mp"}),    PartitionSpec::of({"", ""}),
      PartitionSpec({{"dp", "mp"}, {}}),  PartitionSpec({{"mp", "dp"}, {}}),
      PartitionSpec::of({"mp", "", "dp"})};
  std::set<int64_t> sizes;
  for (const char* shape : {"1x1", "2x2", "1x4", "4x1", "2x3", "3x2"}) {
    const AbstractMesh mesh = AbstractMesh::parse(shape);
    const int64_t n = mesh.size();
    for (auto& spec : specs) {
      const Shape s = spec.size() == 2 ? Shape{n * mult(rng), n * mult(rng)}
                                       : Shape{n * mult(rng), mult(rng), n * mult(rng)};
      sizes.insert(s[0]);
      expect_tiles(mesh, spec, s);
    }
  }
  EXPECT_GT(sizes.size(), 3u) << "the generated shapes vary";
}

TEST(NamedSharding, ErrorsNameTensorDimensionAndAxis) {
  const AbstractMesh mesh = AbstractMesh::parse("1x3");
  const std::string div = error_of([&] {
    NamedSharding(mesh, PartitionSpec::of({"mp", ""}))
        .shard_shape({172, 64}, "model.layers.3.mlp.up_proj.weight");
  });
  EXPECT_EQ(div,
            "dimension 0 of model.layers.3.mlp.up_proj.weight (size 172) is not divisible by axis "
            "'mp' (size 3)");
  const std::string unknown = error_of([&] {
    PartitionSpec::of({"tp", ""}).validate(mesh, "lm_head.weight");
  });
  EXPECT_NE(unknown.find("lm_head.weight"), std::string::npos);
  EXPECT_NE(unknown.find("'tp'"), std::string::npos);
  const std::string twice = error_of([&] {
    PartitionSpec::of({"mp", "mp"}).validate(mesh, "model.norm.weight");
  });
  EXPECT_NE(twice.find("model.norm.weight"), std::string::npos);
  EXPECT_NE(twice.find("more than once"), std::string::npos);
  const std::string rank = error_of([&] {
    NamedSharding(mesh, PartitionSpec::of({"mp"})).validate({6, 6}, "model.embed_tokens.weight");
  });
  EXPECT_NE(rank.find("model.embed_tokens.weight"), std::string::npos);
}

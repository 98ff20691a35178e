// Checked size arithmetic and strict integer fields (docs/DESIGN.md §9,
// Input limits): an overflowing product or a non-integral number from a file
// is an error naming what was sized and the numbers, never a wrapped value.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "sharding/checked.h"
#include "sharding/json_field.h"
#include "sharding/named_sharding.h"

using namespace meshlm;
using meshlm::test::expect_error;

TEST(Checked, ProductsAndSumsThatOverflowAreNamedErrors) {
  EXPECT_EQ(checked_mul(int64_t{1} << 31, int64_t{1} << 31, "x"), int64_t{1} << 62);
  expect_error([] { checked_mul(int64_t{1} << 62, int64_t{4}, "bytes of t"); },
               {"bytes of t", "4611686018427387904 x 4", "overflows int64"});
  expect_error([] { checked_add(INT64_MAX, int64_t{1}, "sum"); }, {"sum", "overflows"});
  expect_error([] { checked_mul(uint64_t{1} << 62, uint64_t{2}, "u"); }, {"u", "overflows"});
  EXPECT_EQ(checked_product({2, 3, 7}, "p"), 42);
  expect_error([] { checked_product({1 << 30, 1 << 30, 1 << 30}, "three"); }, {"three"});
  expect_error([] { check_range(0, 10, "the batch"); }, {"the batch is 0 (expected 1..10)"});
}

TEST(Checked, NumElementsNamesTheTensorAndShape) {
  EXPECT_EQ(num_elements({172, 64}), 172 * 64);
  expect_error(
      [] {
        num_elements({int64_t{1} << 62, 64}, "model.layers.0.mlp.up_proj.weight");
      },
      {"model.layers.0.mlp.up_proj.weight", "[4611686018427387904, 64]", "overflows int64"});
  expect_error([] { num_elements({-1, 64}, "t"); }, {"t [-1, 64]", "negative"});
}

TEST(Checked, IntegerFieldsAreIntegersInRange) {
  const nlohmann::json j = nlohmann::json::parse(
      R"({"a": 64.5, "b": 1e30, "c": -1, "d": 4611686018427387904, "e": [1, 2.5], "f": 7})");
  expect_error([&] { json_field<int64_t>(j, "a", "cfg"); },
               {"cfg: field 'a' is 64.5, expected an integer"});
  expect_error([&] { json_field<int64_t>(j, "b", "cfg"); }, {"field 'b' is 1e+30"});
  expect_error([&] { json_field<uint64_t>(j, "c", "cfg"); }, {"field 'c' is -1"});
  expect_error([&] { json_field<int>(j, "d", "cfg"); }, {"field 'd' is 4611686018427387904"});
  expect_error([&] { json_field<std::vector<int64_t>>(j, "e", "cfg"); }, {"field 'e' is 2.5"});
  EXPECT_EQ(json_field<int>(j, "f", "cfg"), 7);
  EXPECT_EQ(json_field<double>(j, "a", "cfg"), 64.5);  // floats stay floats
}

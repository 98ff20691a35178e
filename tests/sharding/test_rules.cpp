// ShardingRules: ordered regex rules, first match wins, whole-name matching.
#include <gtest/gtest.h>

#include "sharding/error.h"
#include "sharding/rules.h"

using namespace meshlm;

TEST(ShardingRules, FirstMatchWins) {
  ShardingRules r;
  r.add("model\\.layers\\.0\\.mlp\\.up_proj\\.weight", PartitionSpec::of({"", ""}));  // override
  r.add("model\\.layers\\.\\d+\\.mlp\\.(gate|up)_proj\\.weight", PartitionSpec::of({"mp", ""}));
  r.add(".*", PartitionSpec::of({"", "mp"}));  // catch-all last
  EXPECT_EQ(r.match_index("model.layers.0.mlp.up_proj.weight"), 0u);
  EXPECT_EQ(*r.match("model.layers.0.mlp.up_proj.weight"), PartitionSpec::of({"", ""}));
  EXPECT_EQ(r.match_index("model.layers.1.mlp.up_proj.weight"), 1u);
  EXPECT_EQ(r.match_index("model.layers.0.mlp.gate_proj.weight"), 1u);
  EXPECT_EQ(r.match_index("model.layers.0.mlp.down_proj.weight"), 2u);
  EXPECT_EQ(*r.match("lm_head.weight"), PartitionSpec::of({"", "mp"}));

  // Reversed order: the catch-all now shadows everything.
  ShardingRules rev(
      {{".*", PartitionSpec::of({"", "mp"})},
       {"model\\.layers\\.\\d+\\.mlp\\.up_proj\\.weight", PartitionSpec::of({"mp", ""})}});
  EXPECT_EQ(rev.match_index("model.layers.0.mlp.up_proj.weight"), 0u);
}

TEST(ShardingRules, PatternsMatchTheWholeName) {
  ShardingRules r;
  r.add("q_proj", PartitionSpec::of({"mp", ""}));
  r.add("model\\.layers\\.\\d+\\.self_attn\\.q_proj\\.weight", PartitionSpec::of({"", "mp"}));
  EXPECT_EQ(r.match_index("model.layers.3.self_attn.q_proj.weight"), 1u);
  EXPECT_FALSE(r.match("model.layers.3.self_attn.q_proj.bias").has_value());
  EXPECT_FALSE(ShardingRules().match("anything").has_value());
}

TEST(ShardingRules, BadRegexIsNamed) {
  try {
    ShardingRules({{"model\\.layers\\.(\\d+", PartitionSpec::of({""})}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model\\.layers\\.(\\d+"), std::string::npos) << e.what();
  }
}

// A catastrophic-backtracking pattern (std::regex ran forever on it) matches
// in linear time: RE2 has no backtracking.
TEST(ShardingRules, NoPatternCanHang) {
  ShardingRules r;
  r.add("([\\w.]+)+Z", PartitionSpec::of({""}));
  r.add("(a*)*b", PartitionSpec::of({""}));
  const std::string name = "model.layers.0.self_attn.q_proj.weight" + std::string(5000, 'a');
  EXPECT_FALSE(r.match_index(name).has_value());
  EXPECT_EQ(r.match_index(name + "Z"), 0u);
  // Backreferences are not RE2: refused at load, naming the pattern.
  try {
    ShardingRules({{"(a)\\1", PartitionSpec::of({""})}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RE2 syntax"), std::string::npos) << e.what();
  }
}

// Sharding rules: an ordered list of (regex on canonical tensor name ->
// PartitionSpec); the first rule whose regex matches the whole name wins.
// Regexes on parameter names, in the flax/EasyLM style (not MaxText's logical
// axis rules). Default rules and the Megatron scheme: docs/DESIGN.md §4.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sharding/partition_spec.h"

namespace re2 {
class RE2;
}

namespace meshlm {

// Patterns are RE2 regexes (https://github.com/google/re2/wiki/Syntax: the
// ECMAScript subset without backreferences and lookaround), matched in time
// linear in the name: no rule a plan file holds can hang a job.
struct ShardingRule {
  std::string pattern;  // RE2 regex, matched against the whole name
  PartitionSpec spec;
};

class ShardingRules {
 public:
  ShardingRules() = default;
  explicit ShardingRules(std::vector<ShardingRule> rules);  // throws on a bad regex, naming it

  void add(std::string pattern, PartitionSpec spec);
  const std::vector<ShardingRule>& rules() const { return rules_; }

  // Index of the first matching rule, or nullopt.
  std::optional<size_t> match_index(const std::string& tensor_name) const;
  // Spec of the first matching rule, or nullopt.
  std::optional<PartitionSpec> match(const std::string& tensor_name) const;

 private:
  std::vector<ShardingRule> rules_;
  std::vector<std::shared_ptr<const re2::RE2>> compiled_;
};

}  // namespace meshlm

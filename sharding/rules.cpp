#include "sharding/rules.h"

#include "sharding/error.h"

namespace meshlm {

namespace {
std::regex compile(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    MESHLM_FAIL("sharding rule pattern '" << pattern << "' is not a valid regex: " << e.what());
  }
}
}  // namespace

ShardingRules::ShardingRules(std::vector<ShardingRule> rules) {
  for (auto& r : rules) add(std::move(r.pattern), std::move(r.spec));
}

void ShardingRules::add(std::string pattern, PartitionSpec spec) {
  compiled_.push_back(compile(pattern));
  rules_.push_back({std::move(pattern), std::move(spec)});
}

std::optional<size_t> ShardingRules::match_index(const std::string& tensor_name) const {
  for (size_t i = 0; i < compiled_.size(); ++i)
    if (std::regex_match(tensor_name, compiled_[i])) return i;
  return std::nullopt;
}

std::optional<PartitionSpec> ShardingRules::match(const std::string& tensor_name) const {
  if (auto i = match_index(tensor_name)) return rules_[*i].spec;
  return std::nullopt;
}

}  // namespace meshlm

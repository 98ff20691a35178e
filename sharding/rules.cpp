#include "sharding/rules.h"

#include <re2/re2.h>

#include "sharding/error.h"

namespace meshlm {

namespace {
std::shared_ptr<const re2::RE2> compile(const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok())
    MESHLM_FAIL("sharding rule pattern '" << pattern << "' is not a valid regex: " << re->error()
                                          << " (RE2 syntax: no backreferences or lookaround)");
  return re;
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
    if (re2::RE2::FullMatch(tensor_name, *compiled_[i])) return i;
  return std::nullopt;
}

std::optional<PartitionSpec> ShardingRules::match(const std::string& tensor_name) const {
  if (auto i = match_index(tensor_name)) return rules_[*i].spec;
  return std::nullopt;
}

}  // namespace meshlm

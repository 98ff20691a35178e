#include "arch/family.h"

#include <array>

#include "sharding/error.h"

namespace meshlm {

namespace {
// One row per family, in the order of enum Family.
const std::array<FamilyInfo, 5> kFamilies = {{
    {Family::llama, "llama", 2048, 1e-6, 10000.0, true, FeedForward::dense},
    {Family::mistral, "mistral", 4096 * 32, 1e-6, 10000.0, true, FeedForward::dense},
    {Family::qwen2, "qwen2", 32768, 1e-6, 10000.0, true, FeedForward::dense},
    {Family::mixtral, "mixtral", 4096 * 32, 1e-5, 1e6, true, FeedForward::mixtral},
    {Family::gpt_oss, "gpt_oss", 131072, 1e-5, 150000.0, true, FeedForward::gpt_oss},
}};
}  // namespace

const FamilyInfo& family_info(Family family) {
  const FamilyInfo& f = kFamilies.at(static_cast<size_t>(family));
  MESHLM_CHECK(f.family == family, "kFamilies is not in the order of enum Family");
  return f;
}

std::optional<Family> family_of_model_type(const std::string& model_type) {
  for (auto& f : kFamilies)
    if (model_type == f.model_type) return f.family;
  return std::nullopt;
}

std::string family_list(bool runtime_only) {
  std::string out;
  for (auto& f : kFamilies)
    if (f.runtime || !runtime_only) out += (out.empty() ? "" : ", ") + std::string(f.model_type);
  return out;
}

}  // namespace meshlm

// What mesh-run generate prints after a run and writes with --json.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/io/tokenizer.h"
#include "sharding/plan.h"

namespace meshlm::cli {

struct RunReport {
  std::string model;  // checkpoint description
  std::string mesh;   // "2x2"
  const Plan* plan = nullptr;
  double load_s = 0;  // slowest rank
  GenerateResult result;
  // memory[rank][category] = peak bytes measured on that rank.
  std::vector<std::map<std::string, uint64_t>> memory;
  const Tokenizer* tokenizer = nullptr;
  int64_t num_experts = 0;  // MoE: result.expert_tokens is [layers][num_experts]
};

// The text of prompt + generated ids (with a tokenizer) or the ids.
std::string sequence_text(const SequenceOutput& s, const Tokenizer* tokenizer);
void print_sequences(const RunReport& r);
void print_summary(const RunReport& r);
// MoE: per layer, the tokens routed to each expert and max / mean.
void print_expert_load(const RunReport& r);
nlohmann::json report_json(const RunReport& r);

}  // namespace meshlm::cli

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

// One batch of a static-batching run (mesh-run generate --group-size): its
// prompts were prefilled together and decoded until all of them stopped.
struct GroupReport {
  int segment = 0;                 // of --group-size SIZE:COUNT,...
  int64_t size = 0;                // that segment's batch size
  int64_t first = 0, prompts = 0;  // prompts [first, first + prompts)
  int64_t max_new_tokens = 0;      // what the group generated per sequence (at most)
  int64_t requested_tokens = 0;    // --max-new-tokens-each, summed (capped by what was generated)
  int64_t generated_tokens = 0;
  double prefill_s = 0, decode_s = 0;
  int64_t decode_tokens = 0;  // rows of its decode steps
};

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
  // --group-size / --max-new-tokens-each: the batches in order (result holds
  // all of them, timing summed); empty for a plain run.
  bool grouped = false;
  std::vector<GroupReport> groups;
};

// The text of prompt + generated ids (with a tokenizer) or the ids.
std::string sequence_text(const SequenceOutput& s, const Tokenizer* tokenizer);
void print_sequences(const RunReport& r);
void print_summary(const RunReport& r);
// MoE: per layer, the tokens routed to each expert and max / mean.
void print_expert_load(const RunReport& r);
nlohmann::json report_json(const RunReport& r);

}  // namespace meshlm::cli

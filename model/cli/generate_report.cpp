#include "model/cli/generate_report.h"

#include <cstdio>

#include "mesh/device_memory.h"
#include "sharding/units.h"

namespace meshlm::cli {

namespace {

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

std::string bytes(uint64_t b) {
  return format_bytes(static_cast<double>(b));
}

const char* const kCategories[] = {"weights", "kv_cache", "activations", "comm"};

}  // namespace

std::string sequence_text(const SequenceOutput& s, const Tokenizer* tok) {
  if (!tok) {
    std::string out = "[";
    out += ids_text(s.prompt_ids);
    out += "] -> ";
    out += ids_text(s.generated_ids);
    return out;
  }
  std::vector<int32_t> all = s.prompt_ids;
  all.insert(all.end(), s.generated_ids.begin(), s.generated_ids.end());
  return tok->decode(all, -1);
}

void print_sequences(const RunReport& r) {
  const auto& seqs = r.result.sequences;
  for (size_t i = 0; i < seqs.size(); ++i)
    std::printf("[%zu] %s  (%zu tokens, %s)\n", i, sequence_text(seqs[i], r.tokenizer).c_str(),
                seqs[i].generated_ids.size(), finish_name(seqs[i].finish));
}

void print_summary(const RunReport& r) {
  const GenerateTiming& t = r.result.timing;
  std::printf("\n%s on mesh %s: %zu sequence(s)\n", r.model.c_str(), r.mesh.c_str(),
              r.result.sequences.size());
  std::printf(
      "load %s | time to first token %s | prefill %.1f tok/s (%lld tokens) | decode "
      "%.1f tok/s (%lld tokens)\n",
      format_seconds(r.load_s).c_str(), format_seconds(t.ttft_s()).c_str(), t.prefill_tok_s(),
      static_cast<long long>(t.prompt_tokens), t.decode_tok_s(),
      static_cast<long long>(t.decode_tokens));
  std::printf("peak device memory per rank, measured / planned:\n  %-6s", "rank");
  for (const char* c : kCategories) std::printf(" %-30s", c);
  std::printf("\n");
  for (size_t rank = 0; rank < r.memory.size(); ++rank) {
    std::printf("  %-6zu", rank);
    for (const char* c : kCategories) {
      const uint64_t got = r.memory[rank].at(c);
      std::string cell = bytes(got);
      if (r.plan && r.plan->predicted_bytes.count(c)) {
        const uint64_t want = r.plan->predicted_bytes.at(c);
        cell += " / " + bytes(want) + (got == want ? " (=)" : "");
      }
      std::printf(" %-30s", cell.c_str());
    }
    std::printf("\n");
  }
  std::printf("time in collectives (share of prefill + decode):\n");
  for (size_t rank = 0; rank < t.collective_s.size(); ++rank) {
    const double busy = t.busy_s[rank];
    std::string ops;
    for (const auto& [op, c] : t.collectives[rank])
      ops += "; " + op + " " + format_count(c.calls) + " calls, " +
             format_bytes(static_cast<double>(c.bytes)) + ", " + format_seconds(c.seconds);
    std::printf("  rank %zu: %s of %s (%.1f%%)%s\n", rank,
                format_seconds(t.collective_s[rank]).c_str(), format_seconds(busy).c_str(),
                busy > 0 ? 100.0 * t.collective_s[rank] / busy : 0.0, ops.c_str());
  }
  print_expert_load(r);
}

namespace {

// result.expert_tokens as rows of one layer each.
std::vector<std::vector<int64_t>> expert_rows(const RunReport& r) {
  std::vector<std::vector<int64_t>> rows;
  const auto& all = r.result.expert_tokens;
  if (r.num_experts <= 0) return rows;
  for (size_t i = 0; i + static_cast<size_t>(r.num_experts) <= all.size();
       i += static_cast<size_t>(r.num_experts))
    rows.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(i),
                      all.begin() + static_cast<std::ptrdiff_t>(i) + r.num_experts);
  return rows;
}

}  // namespace

void print_expert_load(const RunReport& r) {
  const auto rows = expert_rows(r);
  if (rows.empty()) return;
  std::printf("expert load (tokens routed to each expert, all replicas; max / mean):\n");
  for (size_t l = 0; l < rows.size(); ++l) {
    int64_t sum = 0, most = 0;
    for (int64_t n : rows[l]) {
      sum += n;
      most = std::max(most, n);
    }
    const double mean = static_cast<double>(sum) / static_cast<double>(rows[l].size());
    std::string counts;
    if (rows[l].size() <= 32)
      for (int64_t n : rows[l]) counts += " " + std::to_string(n);
    std::printf("  layer %-3zu %.2f %s\n", l, mean > 0 ? static_cast<double>(most) / mean : 0.0,
                counts.c_str());
  }
}

nlohmann::json report_json(const RunReport& r) {
  using nlohmann::json;
  const GenerateTiming& t = r.result.timing;
  json j;
  j["model"] = r.model;
  j["mesh"] = r.mesh;
  j["sequences"] = json::array();
  for (auto& s : r.result.sequences) {
    json e = {{"prompt_ids", s.prompt_ids},
              {"generated_ids", s.generated_ids},
              {"finish", finish_name(s.finish)}};
    if (r.tokenizer) {
      e["text"] = r.tokenizer->decode(s.generated_ids, s.prompt_ids.back());
      e["prompt"] = r.tokenizer->decode(s.prompt_ids, -1);
    }
    j["sequences"].push_back(e);
  }
  j["timing"] = {{"load_s", r.load_s},
                 {"ttft_s", t.ttft_s()},
                 {"prefill_s", t.prefill_s},
                 {"decode_s", t.decode_s},
                 {"prefill_tok_s", t.prefill_tok_s()},
                 {"decode_tok_s", t.decode_tok_s()},
                 {"prompt_tokens", t.prompt_tokens},
                 {"decode_tokens", t.decode_tokens}};
  j["memory"] = json::array();
  for (auto& m : r.memory) j["memory"].push_back(m);
  if (r.plan) j["predicted"] = r.plan->predicted_bytes;
  if (r.num_experts > 0) j["expert_tokens"] = expert_rows(r);  // [layer][expert]
  j["collectives"] = json::array();
  for (size_t rank = 0; rank < t.collective_s.size(); ++rank) {
    json e = {{"seconds", t.collective_s[rank]},
              {"share", t.busy_s[rank] > 0 ? t.collective_s[rank] / t.busy_s[rank] : 0.0}};
    for (const auto& [op, c] : t.collectives[rank])
      e[op] = {{"calls", c.calls}, {"bytes", c.bytes}, {"seconds", c.seconds}};
    j["collectives"].push_back(e);
  }
  return j;
}

}  // namespace meshlm::cli

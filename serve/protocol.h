// The OpenAI completions protocol as meshlm serves it (POST /v1/completions):
// parsing and checking a request body, and the JSON of responses, stream
// chunks and errors. Pure (no MPI, no model): the HTTP handlers use it, the
// fuzzers can. Fields and defaults: docs/DESIGN.md §13.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace meshlm {

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "",
           std::string type = "invalid_request_error", std::string code = "")
      : std::runtime_error(message),
        status(status),
        param(std::move(param)),
        type(std::move(type)),
        code(std::move(code)) {}
  int status;
  std::string param, type, code;
  std::string json() const;
};

struct CompletionRequest {
  std::string model;                  // "" = the served one
  std::optional<std::string> prompt;  // text (needs a tokenizer) ...
  std::vector<int32_t> prompt_ids;    // ... or token ids
  int64_t max_tokens = 16;
  float temperature = 1.0f;
  float top_p = 1.0f;
  int64_t top_k = 0;  // 0 (or -1 in the request) = off
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // stop strings (not included in the text)
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;  // vLLM: do not stop at the model's EOS
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  int32_t logprobs = -1;          // -1: none; 0..20: the top N per token
  bool return_token_ids = false;  // vLLM: choices[0].token_ids, prompt_token_ids
};

inline constexpr int32_t kMaxLogprobs = 20;
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr int kMaxRequestDepth = 64;  // nesting of arrays and objects in a body

// Throws ApiError 400 naming the field for malformed JSON (also nesting
// deeper than kMaxRequestDepth), a wrong type or a value out of range, and
// for what meshlm does not do (n > 1, echo, ...).
CompletionRequest parse_completion_request(std::string_view body);

// What a completion reports per generated token when logprobs were asked for.
struct TokenInfo {
  int32_t id = 0;
  std::string text;  // its piece ("" without a tokenizer)
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;  // (piece, logprob), best first
};

// The parts of a completion response or stream chunk.
struct CompletionChoice {
  std::string text;
  std::optional<std::string> finish_reason;  // "stop" | "length" | "abort"; none while streaming
  const std::vector<TokenInfo>* logprobs = nullptr;        // with request.logprobs >= 0
  int64_t text_offset0 = 0;                                // text_offset of the first listed token
  const std::vector<int32_t>* token_ids = nullptr;         // return_token_ids
  const std::vector<int32_t>* prompt_token_ids = nullptr;  // return_token_ids
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// {"id", "object": "text_completion", "created", "model", "choices": [...], "usage"?}
nlohmann::json completion_json(const std::string& id, int64_t created, const std::string& model,
                               const CompletionChoice& choice, const Usage* usage);
// The stream's last chunk with include_usage: "choices": [] and the usage.
nlohmann::json usage_chunk_json(const std::string& id, int64_t created, const std::string& model,
                                const Usage& usage);

}  // namespace meshlm

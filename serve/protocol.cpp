#include "serve/protocol.h"

#include <cmath>
#include <limits>

namespace meshlm {

using nlohmann::json;

std::string ApiError::json() const {
  nlohmann::json e = {{"message", what()},
                      {"type", type},
                      {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                      {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}};
  // A message may quote bytes of the request that are not UTF-8 (a JSON
  // parse error's "last read"): those become U+FFFD, the JSON stays valid.
  return nlohmann::json{{"error", e}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw ApiError(400, "'" + field + "' " + what, field);
}

// Type names as a JSON user reads them.
std::string type_of(const json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

int64_t integer(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) bad(field, "must be an integer, got " + type_of(v));
  const bool above = v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(hi)
                                            : v.get<int64_t>() > hi;
  if (above || v.get<int64_t>() < lo)
    bad(field,
        "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + v.dump());
  return v.get<int64_t>();
}

float number(const json& v, const std::string& field, double lo, double hi) {
  if (!v.is_number()) bad(field, "must be a number, got " + type_of(v));
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi))
    bad(field, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v.dump());
  return static_cast<float>(x);
}

bool boolean(const json& v, const std::string& field) {
  if (!v.is_boolean()) bad(field, "must be a boolean, got " + type_of(v));
  return v.get<bool>();
}

std::vector<int32_t> token_ids(const json& v, const std::string& field) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < v.size(); ++i)
    ids.push_back(static_cast<int32_t>(integer(v[i], field + "[" + std::to_string(i) + "]", 0,
                                               std::numeric_limits<int32_t>::max())));
  return ids;
}

// A prompt: text or token ids, alone or as a batch of one ([text], [[ids]]).
void read_prompt(const json& v, CompletionRequest& r, bool in_batch = false) {
  if (v.is_string()) {
    if (v.get<std::string>().empty()) bad("prompt", "is empty");
    r.prompt = v.get<std::string>();
    return;
  }
  if (!v.is_array() || v.empty())
    bad("prompt", "must be a string or a non-empty array of token ids, got " +
                      (v.is_array() ? std::string("an empty array") : type_of(v)));
  if (v[0].is_string() || v[0].is_array()) {  // a batch of prompts
    if (in_batch) bad("prompt", "must be a string or token ids, or a list of one of those");
    if (v.size() > 1) bad("prompt", "holds " + std::to_string(v.size()) + " prompts: send one");
    read_prompt(v[0], r, /*in_batch=*/true);
    return;
  }
  r.prompt_ids = token_ids(v, "prompt");
}

}  // namespace

CompletionRequest parse_completion_request(std::string_view body) {
  // Requests nest 3 levels; deeper nesting is refused while parsing (copies,
  // comparisons and dumps of a json value recurse).
  const json::parser_callback_t limit_depth = [](int depth, json::parse_event_t event, json&) {
    using E = json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= kMaxRequestDepth)
      throw ApiError(400, "request body nests arrays and objects more than " +
                              std::to_string(kMaxRequestDepth) + " levels deep");
    return true;
  };
  json j;
  try {
    j = json::parse(body, limit_depth);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e400
    std::string what = e.what();  // quotes what it read last: keep the message short
    if (what.size() > 200) what = what.substr(0, 197) + "...";
    throw ApiError(400, "request body is not valid JSON: " + what);
  }
  if (!j.is_object()) throw ApiError(400, "request body must be a JSON object, got " + type_of(j));
  CompletionRequest r;
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  if (has("model")) {
    if (!j["model"].is_string()) bad("model", "must be a string, got " + type_of(j["model"]));
    r.model = j["model"].get<std::string>();
  }
  if (!has("prompt")) bad("prompt", "is required");
  read_prompt(j["prompt"], r);
  if (has("max_tokens")) r.max_tokens = integer(j["max_tokens"], "max_tokens", 1, 1 << 30);
  if (has("temperature")) r.temperature = number(j["temperature"], "temperature", 0, 100);
  if (has("top_p")) {
    r.top_p = number(j["top_p"], "top_p", 0, 1);
    if (r.top_p <= 0) bad("top_p", "must be above 0");
  }
  if (has("top_k")) {
    r.top_k = integer(j["top_k"], "top_k", -1, std::numeric_limits<int32_t>::max());
    if (r.top_k < 0) r.top_k = 0;
  }
  if (has("seed"))
    r.seed = static_cast<uint64_t>(integer(j["seed"], "seed", std::numeric_limits<int64_t>::min(),
                                           std::numeric_limits<int64_t>::max()));
  if (has("stop")) {
    const json& s = j["stop"];
    if (s.is_string()) {
      r.stop.push_back(s.get<std::string>());
    } else if (s.is_array()) {
      if (s.size() > kMaxStopStrings)
        bad("stop", "holds " + std::to_string(s.size()) + " strings, at most " +
                        std::to_string(kMaxStopStrings));
      for (size_t i = 0; i < s.size(); ++i) {
        if (!s[i].is_string())
          bad("stop[" + std::to_string(i) + "]", "must be a string, got " + type_of(s[i]));
        r.stop.push_back(s[i].get<std::string>());
      }
    } else {
      bad("stop", "must be a string or an array of strings, got " + type_of(s));
    }
    for (const std::string& x : r.stop)
      if (x.empty()) bad("stop", "holds an empty string");
  }
  if (has("stop_token_ids")) {
    if (!j["stop_token_ids"].is_array())
      bad("stop_token_ids", "must be an array of token ids, got " + type_of(j["stop_token_ids"]));
    r.stop_token_ids = token_ids(j["stop_token_ids"], "stop_token_ids");
  }
  if (has("ignore_eos")) r.ignore_eos = boolean(j["ignore_eos"], "ignore_eos");
  if (has("stream")) r.stream = boolean(j["stream"], "stream");
  if (has("stream_options")) {
    const json& o = j["stream_options"];
    if (!o.is_object()) bad("stream_options", "must be an object, got " + type_of(o));
    if (o.contains("include_usage") && !o["include_usage"].is_null())
      r.include_usage = boolean(o["include_usage"], "stream_options.include_usage");
  }
  if (has("logprobs"))
    r.logprobs = static_cast<int32_t>(integer(j["logprobs"], "logprobs", 0, kMaxLogprobs));
  if (has("return_token_ids"))
    r.return_token_ids = boolean(j["return_token_ids"], "return_token_ids");
  if (has("n") && integer(j["n"], "n", 1, 1 << 20) != 1)
    bad("n", "must be 1 (one choice per request)");
  if (has("best_of") && integer(j["best_of"], "best_of", 1, 1 << 20) != 1)
    bad("best_of", "must be 1");
  if (has("echo") && boolean(j["echo"], "echo")) bad("echo", "is not supported");
  if (has("stream_options") && !r.stream)
    bad("stream_options", "is only allowed with stream: true");
  if (has("logit_bias") && !(j["logit_bias"].is_object() && j["logit_bias"].empty()))
    bad("logit_bias", "is not supported");
  if (has("suffix") && !(j["suffix"].is_string() && j["suffix"].get<std::string>().empty()))
    bad("suffix", "is not supported");
  for (const char* k : {"presence_penalty", "frequency_penalty"})
    if (has(k) && number(j[k], k, -2, 2) != 0) bad(k, "is not supported (must be 0)");
  return r;
}

json completion_json(const std::string& id, int64_t created, const std::string& model,
                     const CompletionChoice& c, const Usage* usage) {
  json choice = {{"index", 0},
                 {"text", c.text},
                 {"logprobs", nullptr},
                 {"finish_reason", c.finish_reason ? json(*c.finish_reason) : json(nullptr)}};
  if (c.logprobs) {
    json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    int64_t offset = c.text_offset0;
    for (const TokenInfo& t : *c.logprobs) {
      tokens.push_back(t.text);
      lps.push_back(t.logprob);
      json top = json::object();
      for (const auto& [piece, lp] : t.top)
        if (!top.contains(piece)) top[piece] = lp;
      tops.push_back(top);
      offsets.push_back(offset);
      offset += static_cast<int64_t>(t.text.size());
    }
    choice["logprobs"] = {{"tokens", tokens},
                          {"token_logprobs", lps},
                          {"top_logprobs", tops},
                          {"text_offset", offsets}};
  }
  if (c.token_ids) choice["token_ids"] = *c.token_ids;
  if (c.prompt_token_ids) choice["prompt_token_ids"] = *c.prompt_token_ids;
  json out = {{"id", id},
              {"object", "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", json::array({choice})}};
  if (usage)
    out["usage"] = {{"prompt_tokens", usage->prompt_tokens},
                    {"completion_tokens", usage->completion_tokens},
                    {"total_tokens", usage->prompt_tokens + usage->completion_tokens}};
  return out;
}

json usage_chunk_json(const std::string& id, int64_t created, const std::string& model,
                      const Usage& usage) {
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array()},
          {"usage",
           {{"prompt_tokens", usage.prompt_tokens},
            {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.prompt_tokens + usage.completion_tokens}}}};
}

}  // namespace meshlm

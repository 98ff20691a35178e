// The OpenAI completions protocol: request parsing (types, ranges, what is
// not supported, all named in the error) and the response's JSON shape.
#include <gtest/gtest.h>

#include "serve/protocol.h"

namespace meshlm {
namespace {

using nlohmann::json;

// The ApiError a body gives (fails the test when it parses).
ApiError error_of(const std::string& body) {
  try {
    parse_completion_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

TEST(ServeProtocol, ParsesEveryField) {
  const CompletionRequest r = parse_completion_request(R"({
    "model": "m", "prompt": "Once", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
    "top_k": 40, "seed": -3, "stop": ["\n", "The end"], "stop_token_ids": [2, 5],
    "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true},
    "logprobs": 3, "return_token_ids": true, "n": 1, "echo": false, "user": "x",
    "presence_penalty": 0})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.top_p, 0.9f);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "The end"}));
  EXPECT_EQ(r.stop_token_ids, (std::vector<int32_t>{2, 5}));
  EXPECT_TRUE(r.ignore_eos && r.stream && r.include_usage && r.return_token_ids);
  EXPECT_EQ(r.logprobs, 3);
}

TEST(ServeProtocol, DefaultsAreOpenAIs) {
  const CompletionRequest r = parse_completion_request(R"({"prompt": [1, 2, 3], "top_k": -1})");
  EXPECT_FALSE(r.prompt);
  EXPECT_EQ(r.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.temperature, 1.0f);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_FALSE(r.stream);
  // A batch of one prompt is that prompt; nulls are defaults.
  EXPECT_EQ(parse_completion_request(R"({"prompt": [[4, 5]], "max_tokens": null})").prompt_ids,
            (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": ["hi"]})").prompt, "hi");
}

TEST(ServeProtocol, ErrorsNameTheFieldAndWhatWasExpected) {
  struct Bad {
    const char* body;
    const char* param;
    const char* says;
  };
  for (const Bad& b : std::vector<Bad>{
           {R"({"prompt": "x", "max_tokens": "a"})", "max_tokens",
            "must be an integer, got a string"},
           {R"({"prompt": "x", "max_tokens": 0})", "max_tokens", "must be in 1.."},
           {R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens",
            "must be an integer, got a number"},
           {R"({"prompt": "x", "temperature": -1})", "temperature",
            "must be in [0.0, 100.0], got -1"},
           {R"({"prompt": "x", "top_p": 0})", "top_p", "above 0"},
           {R"({"prompt": "x", "logprobs": 21})", "logprobs", "must be in 0..20, got 21"},
           {R"({"prompt": "x", "stream": "yes"})", "stream", "must be a boolean"},
           {R"({"prompt": "x", "stop": 3})", "stop", "string or an array of strings"},
           {R"({"prompt": "x", "stop": ["a", 1]})", "stop[1]", "must be a string"},
           {R"({"prompt": "x", "stop": ""})", "stop", "empty string"},
           {R"({"prompt": "x", "n": 2})", "n", "must be 1"},
           {R"({"prompt": "x", "echo": true})", "echo", "not supported"},
           {R"({"prompt": "x", "frequency_penalty": 0.5})", "frequency_penalty", "not supported"},
           {R"({"prompt": [1, -2]})", "prompt[1]", "must be in 0.."},
           {R"({"prompt": []})", "prompt", "an empty array"},
           {R"({"prompt": ["a", "b"]})", "prompt", "holds 2 prompts"},
           {R"({"prompt": ""})", "prompt", "is empty"},
           {R"({"prompt": {"a": 1}})", "prompt", "got an object"},
           {R"({"max_tokens": 3})", "prompt", "is required"},
           {R"({"prompt": "x", "model": 3})", "model", "must be a string"},
           {R"({"prompt": "x", "stop_token_ids": 2})", "stop_token_ids", "array of token ids"},
           {R"({"prompt": "x", "stream": true, "stream_options": 1})", "stream_options",
            "must be an object"},
           {R"({"prompt": "x", "stream_options": {}})", "stream_options",
            "only allowed with stream"},
           {R"({"prompt": "x", "logit_bias": {"5": 100}})", "logit_bias", "not supported"},
           {R"({"prompt": "x", "suffix": "end"})", "suffix", "not supported"},
       }) {
    const ApiError e = error_of(b.body);
    EXPECT_EQ(e.status, 400) << b.body;
    EXPECT_EQ(e.param, b.param) << b.body;
    EXPECT_NE(std::string(e.what()).find(b.says), std::string::npos) << e.what();
    const json j = json::parse(e.json());  // OpenAI's shape
    EXPECT_EQ(j["error"]["param"], b.param);
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_TRUE(j["error"].contains("code"));
  }
  for (const char* body : {"{bad", "[1, 2]", "", "null"}) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.status, 400);
    EXPECT_TRUE(json::parse(e.json())["error"]["param"].is_null()) << body;
  }
}

TEST(ServeProtocol, CompletionJsonHasOpenAIsShape) {
  std::vector<TokenInfo> infos = {{5, " a", -0.5f, {{" a", -0.5f}, {" b", -1.5f}}},
                                  {6, "bc", -0.25f, {{"bc", -0.25f}, {"x", -3.0f}}}};
  std::vector<int32_t> ids = {5, 6}, prompt = {1, 2};
  CompletionChoice c;
  c.text = " abc";
  c.finish_reason = "length";
  c.logprobs = &infos;
  c.text_offset0 = 10;
  c.token_ids = &ids;
  c.prompt_token_ids = &prompt;
  const Usage u{2, 2};
  const json j = completion_json("cmpl-1", 123, "m", c, &u);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["created"], 123);
  const json& ch = j["choices"][0];
  EXPECT_EQ(ch["index"], 0);
  EXPECT_EQ(ch["text"], " abc");
  EXPECT_EQ(ch["finish_reason"], "length");
  EXPECT_EQ(ch["token_ids"], json({5, 6}));
  EXPECT_EQ(ch["prompt_token_ids"], json({1, 2}));
  EXPECT_EQ(ch["logprobs"]["tokens"], json({" a", "bc"}));
  EXPECT_EQ(ch["logprobs"]["text_offset"], json({10, 12}));
  EXPECT_EQ(ch["logprobs"]["top_logprobs"][1]["x"], -3.0);
  EXPECT_EQ(j["usage"]["total_tokens"], 4);
  // A stream chunk: no usage, finish_reason null until the last.
  CompletionChoice chunk;
  chunk.text = "a";
  const json k = completion_json("cmpl-1", 123, "m", chunk, nullptr);
  EXPECT_TRUE(k["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(k["choices"][0]["logprobs"].is_null());
  EXPECT_FALSE(k.contains("usage"));
  EXPECT_EQ(usage_chunk_json("cmpl-1", 1, "m", u)["choices"], json::array());
}

// Found by fuzz_completion_request (fuzz/corpus/completion_request/): each is
// a 400 whose JSON the server can send.
TEST(ServeProtocol, HostileBodiesAre400sWithValidJson) {
  struct Bad {
    std::string body;
    const char* says;
  };
  const std::string deep = std::string(1'000'000, '[') + "1" + std::string(1'000'000, ']');
  for (const Bad& b : std::vector<Bad>{
           // Bytes that are not UTF-8, quoted by the parse error: json() threw.
           {"{\"prompt\": \"x\", \"max_t\x91\x94\x9a\x91\x8c\xdd\xc5\xe7" "0}", "not valid JSON"},
           // A number beyond double: nlohmann's out_of_range, not a parse_error.
           {R"({"prompt": "x", "temperature": 1e400})", "not valid JSON"},
           {"{\"prompt\": \"" + std::string(100'000, 'x') + "\xff\"}", "not valid JSON"},
           // A million nested arrays: refused while parsing (copies and dumps recurse).
           {"{\"prompt\": " + deep + "}", "nests arrays and objects more than 64 levels"},
           // A batch of one prompt is one level, not any number.
           {R"({"prompt": [[[1, 2]]]})", "or a list of one of those"},
       }) {
    const ApiError e = error_of(b.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find(b.says), std::string::npos) << e.what();
    EXPECT_LT(std::string(e.what()).size(), 400u);
    const json j = json::parse(e.json());
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
}

}  // namespace
}  // namespace meshlm

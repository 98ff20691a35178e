// The body of POST /v1/completions (serve/protocol.h,
// parse_completion_request): the input is the body. Bad bodies are ApiError
// 400s whose JSON the server sends back, so that JSON must be writable.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "serve/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshlm;
  try {
    const CompletionRequest r = parse_completion_request(fuzz::text(data, size));
    FUZZ_ASSERT(r.prompt.has_value() != !r.prompt_ids.empty());
    FUZZ_ASSERT(r.max_tokens >= 1 && r.logprobs <= kMaxLogprobs && r.stop.size() <= kMaxStopStrings);
  } catch (const ApiError& e) {
    FUZZ_ASSERT(e.status == 400);
    const nlohmann::json back = nlohmann::json::parse(e.json());
    FUZZ_ASSERT(back.contains("error"));
  }
  return 0;
}

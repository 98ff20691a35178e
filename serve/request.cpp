#include "serve/request.h"

#include <chrono>

namespace meshlm {

namespace {
double steady_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Request::Request(int64_t seq_id_, CompletionRequest params_, std::vector<int32_t> prompt_,
                 const Tokenizer* tokenizer)
    : seq_id(seq_id_),
      api_id("cmpl-" + std::to_string(seq_id_)),
      created(std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count()),
      arrival(steady_now()),
      params(std::move(params_)),
      prompt(std::move(prompt_)),
      text(tokenizer, prompt.back(), params.stop) {}

}  // namespace meshlm

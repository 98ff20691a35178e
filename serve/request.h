// One completion request in flight, shared by the HTTP handler that waits on
// it (or streams it) and the serving loop that feeds it tokens.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "serve/protocol.h"
#include "serve/text_stream.h"

namespace meshlm {

struct Request {
  Request(int64_t seq_id, CompletionRequest params, std::vector<int32_t> prompt,
          const Tokenizer* tokenizer);

  const int64_t seq_id;      // the scheduler's id
  const std::string api_id;  // "cmpl-<seq_id>"
  const int64_t created;     // unix seconds
  const double arrival;      // steady seconds (metrics)
  const CompletionRequest params;
  const std::vector<int32_t> prompt;
  uint64_t seed = 0;                   // params.seed or one drawn at arrival
  std::atomic<bool> cancelled{false};  // the client went away: abort at the next step

  // Written by the serving loop under `m`; the handler waits on `cv`.
  std::mutex m;
  std::condition_variable cv;
  TextStream text;                           // the completion's text so far
  std::string ready;                         // text that may be sent, not yet taken
  std::vector<int32_t> generated;            // recorded ids (stop ids are not)
  std::vector<TokenInfo> infos;              // per generated token (with logprobs)
  std::optional<std::string> finish_reason;  // set once: "stop", "length" or "abort"
  double first_token = 0, last_token = 0;    // steady seconds

  bool done() const { return finish_reason.has_value(); }
};

}  // namespace meshlm

#include "serve/http_server.h"

#include <httplib.h>

#include <chrono>

#include "serve/web_page.h"
#include "sharding/error.h"

namespace meshlm {

using nlohmann::json;

namespace {

constexpr size_t kMaxBody = 8u << 20;
constexpr int kHandlerThreads = 256;  // each streaming client holds one

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(e.json(), "application/json");
}

// The completion's choice from what the request holds now (r.m held):
// `from_token` is the first generated token the choice covers.
CompletionChoice choice_of(const Request& r, const std::string& text, size_t from_token,
                           std::vector<TokenInfo>& infos, bool final) {
  CompletionChoice c;
  c.text = text;
  if (final) c.finish_reason = r.finish_reason;
  if (r.params.logprobs >= 0) {
    const size_t from = std::min(from_token, r.infos.size());
    for (size_t i = 0; i < from; ++i)
      c.text_offset0 += static_cast<int64_t>(r.infos[i].text.size());
    infos.assign(r.infos.begin() + static_cast<std::ptrdiff_t>(from), r.infos.end());
    c.logprobs = &infos;
  }
  return c;
}

Usage usage_of(const Request& r) {
  return Usage{static_cast<int64_t>(r.prompt.size()), static_cast<int64_t>(r.generated.size())};
}

}  // namespace

HttpServer::HttpServer(Coordinator& coordinator, json mesh_info)
    : coordinator_(coordinator),
      mesh_info_(std::move(mesh_info)),
      server_(std::make_unique<httplib::Server>()) {
  routes();
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::routes() {
  httplib::Server& s = *server_;
  ServerMetrics& metrics = coordinator_.metrics();
  s.new_task_queue = [] { return new httplib::ThreadPool(kHandlerThreads); };
  s.set_payload_max_length(kMaxBody);
  s.set_logger([&metrics](const httplib::Request&, const httplib::Response& res) {
    std::lock_guard lock(metrics.m);
    ++metrics.requests_by_status[res.status];
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string what = res.status == 404 ? "no route " + req.method + " " + req.path
                             : res.status == 413
                                 ? "request body above " + std::to_string(kMaxBody) + " bytes"
                                 : "HTTP " + std::to_string(res.status);
    res.set_content(ApiError(res.status, what).json(), "application/json");
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, ApiError(500, what, "", "server_error"));
      });

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const bool ok = !coordinator_.closing();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? R"({"status":"ok"})" : R"({"status":"shutting down"})",
                    "application/json");
  });
  s.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus(), "text/plain; version=0.0.4");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json model = {{"id", coordinator_.options().model_name},
                        {"object", "model"},
                        {"created", 0},
                        {"owned_by", "meshlm"},
                        {"max_model_len", coordinator_.options().scheduler.max_model_len}};
    res.set_content(dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  });
  s.Get("/v1/mesh", [this, &metrics](const httplib::Request&, httplib::Response& res) {
    json j = mesh_info_;
    std::lock_guard lock(metrics.m);
    j["live"] = {{"running", metrics.running},
                 {"waiting", metrics.waiting},
                 {"kv_blocks_used", metrics.blocks_used},
                 {"kv_blocks_free", metrics.blocks_free},
                 {"prompt_tokens_total", metrics.prompt_tokens},
                 {"generation_tokens_total", metrics.generation_tokens},
                 {"prefix_cache_queried_tokens", metrics.prefix_queried},
                 {"prefix_cache_hit_tokens", metrics.prefix_hits}};
    res.set_content(dump(j), "application/json");
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web_page(), "text/html; charset=utf-8");
  });

  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<Request> r;
    try {
      r = coordinator_.submit(parse_completion_request(req.body));
    } catch (const ApiError& e) {
      send_error(res, e);
      return;
    }
    const std::string model = coordinator_.options().model_name;
    if (!r->params.stream) {
      std::unique_lock lock(r->m);
      r->cv.wait(lock, [&] { return r->done(); });
      std::vector<TokenInfo> infos;
      CompletionChoice c = choice_of(*r, r->text.text(), 0, infos, true);
      if (r->params.return_token_ids) {
        c.token_ids = &r->generated;
        c.prompt_token_ids = &r->prompt;
      }
      const Usage u = usage_of(*r);
      res.set_content(dump(completion_json(r->api_id, r->created, model, c, &u)),
                      "application/json");
      return;
    }
    // Server-sent events: a chunk per batch of new tokens, the last with the
    // finish reason, then (include_usage) the usage chunk and [DONE].
    auto sent = std::make_shared<size_t>(0);  // tokens already in chunks
    res.set_header("Cache-Control", "no-cache");
    {
      std::lock_guard lock(streams_m_);
      ++streams_;
    }
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, r, sent, model](size_t, httplib::DataSink& sink) {
          std::unique_lock lock(r->m);
          r->cv.wait_for(lock, std::chrono::milliseconds(200), [&] {
            return r->done() || r->generated.size() > *sent || !r->ready.empty();
          });
          if (!sink.is_writable()) {  // the client went away
            r->cancelled = true;
            lock.unlock();
            coordinator_.notify();
            return false;
          }
          const bool final = r->done();
          if (!final && r->generated.size() == *sent && r->ready.empty()) return true;
          std::vector<TokenInfo> infos;
          CompletionChoice c = choice_of(*r, r->ready, *sent, infos, final);
          std::vector<int32_t> ids(r->generated.begin() + static_cast<std::ptrdiff_t>(*sent),
                                   r->generated.end());
          std::vector<int32_t> prompt_ids;
          if (r->params.return_token_ids) {
            c.token_ids = &ids;
            if (*sent == 0) c.prompt_token_ids = &r->prompt;
          }
          r->ready.clear();
          *sent = r->generated.size();
          std::string out =
              "data: " + dump(completion_json(r->api_id, r->created, model, c, nullptr)) + "\n\n";
          if (final) {
            if (r->params.include_usage)
              out += "data: " + dump(usage_chunk_json(r->api_id, r->created, model, usage_of(*r))) +
                     "\n\n";
            out += "data: [DONE]\n\n";
          }
          lock.unlock();
          if (!sink.write(out.data(), out.size())) {
            r->cancelled = true;
            coordinator_.notify();
            return false;
          }
          if (final) sink.done();
          return true;
        },
        [this](bool) {  // the stream is written (or its client gone)
          std::lock_guard lock(streams_m_);
          --streams_;
          streams_cv_.notify_all();
        });
  });
}

void HttpServer::start(const std::string& host, int port) {
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ <= 0) MESHLM_FAIL("cannot bind an HTTP port on " << host);
  } else {
    if (!server_->bind_to_port(host, port))
      MESHLM_FAIL("cannot listen on " << host << ":" << port
                                      << " (in use, or not an address of this host?)");
    port_ = port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  {  // cpp-httplib stops a chunked response where it is: let the streams end
    std::unique_lock lock(streams_m_);
    streams_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return streams_ == 0; });
  }
  server_->stop();
  thread_.join();
}

}  // namespace meshlm

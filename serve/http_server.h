// The HTTP front of `mesh-run serve` on world rank 0 (cpp-httplib): the
// OpenAI routes (POST /v1/completions, GET /v1/models), GET /health,
// GET /metrics (Prometheus), GET /v1/mesh (the mesh and its memory, live) and
// GET / (a page showing them, with a prompt box). Handlers only talk to the
// Coordinator; they never touch MPI. docs/DESIGN.md §13.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "serve/coordinator.h"

namespace httplib {
class Server;
}

namespace meshlm {

class HttpServer {
 public:
  // `mesh_info`: the static part of GET /v1/mesh (mesh, devices, memory).
  HttpServer(Coordinator& coordinator, nlohmann::json mesh_info);
  ~HttpServer();

  // Binds host:port (throws meshlm::Error when it cannot; port 0 picks a free
  // one) and serves on a thread of its own.
  void start(const std::string& host, int port);
  int port() const { return port_; }
  // Waits (up to 10 s) for the streams in flight to be written, then stops
  // accepting and waits for the handlers to return.
  void stop();

 private:
  void routes();
  Coordinator& coordinator_;
  nlohmann::json mesh_info_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex streams_m_;
  std::condition_variable streams_cv_;
  int streams_ = 0;  // streamed responses not yet fully written
};

}  // namespace meshlm

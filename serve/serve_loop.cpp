#include "serve/serve_loop.h"

#include <mpi.h>

#include <chrono>

#include "collectives/stats.h"
#include "serve/executor.h"
#include "serve/lockstep.h"
#include "sharding/error.h"

namespace meshlm {

namespace {

// This rank's replica's part of a step; the bytes it sends back (only each
// replica's mp-rank-0 sends any).
std::vector<std::byte> run_step(Engine& engine, const DeviceMesh& mesh, const StepMessage& msg) {
  const int dp = mesh.coord("dp");
  MESHLM_CHECK(dp < static_cast<int>(msg.replicas.size()),
               "step message for " << msg.replicas.size() << " replicas, this rank is dp " << dp);
  std::vector<SeqResult> results = run_replica_step(engine, msg.replicas[static_cast<size_t>(dp)]);
  return mesh.coord("mp") == 0 ? encode(results) : std::vector<std::byte>{};
}

void follow(Engine& engine, const DeviceMesh& mesh, Lockstep& lockstep) {
  for (;;) {
    const std::vector<std::byte> bytes = lockstep.broadcast({});
    const StepMessage msg = decode_step(bytes);
    if (msg.shutdown) return;
    lockstep.gather(run_step(engine, mesh, msg));
  }
}

void lead(Engine& engine, const DeviceMesh& mesh, Lockstep& lockstep, Coordinator& coordinator,
          const std::atomic<bool>& stop, ServerMetrics& metrics) {
  using clock = std::chrono::steady_clock;
  clock::time_point deadline = clock::time_point::max();
  for (;;) {
    if (stop && !coordinator.closing()) {
      coordinator.begin_shutdown();
      deadline = clock::now() +
                 std::chrono::duration_cast<clock::duration>(
                     std::chrono::duration<double>(coordinator.options().shutdown_timeout_s));
    }
    if (coordinator.closing() && (!coordinator.has_work() || clock::now() >= deadline)) {
      coordinator.abort_all();
      StepMessage bye;
      bye.shutdown = true;
      lockstep.broadcast(encode(bye));
      return;
    }
    if (!coordinator.wait_for_work(std::chrono::milliseconds(50))) continue;
    const StepMessage msg = coordinator.next_step();
    bool any = false;
    for (const auto& r : msg.replicas) any = any || !r.empty();
    if (!any) continue;
    const auto t0 = clock::now();
    const double c0 = collective_stats().total_seconds();
    lockstep.broadcast(encode(msg));
    const auto parts = lockstep.gather(run_step(engine, mesh, msg));
    std::vector<SeqResult> results;
    for (const auto& p : parts) {
      if (p.empty()) continue;  // not a replica's mp-rank-0
      std::vector<SeqResult> r = decode_results(p);
      results.insert(results.end(), r.begin(), r.end());
    }
    const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
    {
      std::lock_guard lock(metrics.m);
      metrics.busy_s += seconds;
      metrics.collective_s += collective_stats().total_seconds() - c0;
    }
    coordinator.apply(results, seconds);
  }
}

}  // namespace

void serve_loop(Engine& engine, const DeviceMesh& mesh, Coordinator* coordinator,
                const std::atomic<bool>& stop) {
  Lockstep lockstep(mesh.comm());
  MESHLM_CHECK((lockstep.rank() == 0) == (coordinator != nullptr),
               "the coordinator belongs on rank 0 (this is rank " << lockstep.rank() << ")");
  if (coordinator)
    lead(engine, mesh, lockstep, *coordinator, stop, coordinator->metrics());
  else
    follow(engine, mesh, lockstep);
}

}  // namespace meshlm

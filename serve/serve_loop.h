// The serving loop: every rank of the mesh runs it until shutdown. World rank
// 0 (which also holds the Coordinator and the HTTP server) decides each step
// and broadcasts it; every rank runs its dp replica's part on its Engine;
// each replica's mp-rank-0 sends the sampled tokens back. Between requests
// ranks sleep-poll (serve/lockstep.h). docs/DESIGN.md §13.
#pragma once

#include <atomic>

#include "mesh/device_mesh.h"
#include "model/engine.h"
#include "serve/coordinator.h"

namespace meshlm {

// Collective over the mesh. `coordinator`: non-null exactly on world rank 0.
// `stop`: set (on rank 0, by a signal handler) to begin a graceful shutdown —
// accept nothing new, finish what runs within the coordinator's
// shutdown_timeout_s, abort the rest — after which every rank returns.
void serve_loop(Engine& engine, const DeviceMesh& mesh, Coordinator* coordinator,
                const std::atomic<bool>& stop);

}  // namespace meshlm

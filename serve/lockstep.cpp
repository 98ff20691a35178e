#include "serve/lockstep.h"

#include <chrono>
#include <cstdint>
#include <thread>

namespace meshlm {

Lockstep::Lockstep(MPI_Comm world) {
  MPI_Comm_dup(world, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Lockstep::~Lockstep() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::vector<std::byte> Lockstep::broadcast(std::vector<std::byte> message) {
  uint64_t size = message.size();
  MPI_Request req;
  MPI_Ibcast(&size, 1, MPI_UINT64_T, 0, comm_, &req);
  // Spin briefly (a busy server's next step comes within a step time), then
  // sleep between polls, up to 2 ms.
  auto sleep = std::chrono::microseconds(0);
  const auto spin_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
  for (int done = 0;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (std::chrono::steady_clock::now() < spin_until) {
      std::this_thread::yield();
      continue;
    }
    sleep = std::min(std::chrono::microseconds(2000), sleep + std::chrono::microseconds(100));
    std::this_thread::sleep_for(sleep);
  }
  message.resize(size);
  if (size > 0) MPI_Bcast(message.data(), static_cast<int>(size), MPI_BYTE, 0, comm_);
  return message;
}

std::vector<std::vector<std::byte>> Lockstep::gather(const std::vector<std::byte>& mine) {
  const int n = static_cast<int>(mine.size());
  std::vector<int> sizes(static_cast<size_t>(rank_ == 0 ? size_ : 0));
  MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, comm_);
  std::vector<int> offsets(sizes.size());
  int total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = total;
    total += sizes[r];
  }
  std::vector<std::byte> all(static_cast<size_t>(total));
  MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, 0,
              comm_);
  std::vector<std::vector<std::byte>> out;
  for (size_t r = 0; r < sizes.size(); ++r)
    out.emplace_back(all.begin() + offsets[r], all.begin() + offsets[r] + sizes[r]);
  return out;
}

}  // namespace meshlm

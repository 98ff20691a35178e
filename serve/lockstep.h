// The serving loop's control channel over the whole job (MPI): world rank 0
// broadcasts each step's message and gathers what every rank sends back.
// A rank waiting for the next step polls with growing sleeps instead of
// spinning, so an idle server costs (almost) no CPU.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <vector>

namespace meshlm {

class Lockstep {
 public:
  explicit Lockstep(MPI_Comm world);  // collective: duplicates `world`
  ~Lockstep();
  Lockstep(const Lockstep&) = delete;
  Lockstep& operator=(const Lockstep&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Rank 0 passes the message and returns it; every other rank waits for it
  // (however long) and returns it.
  std::vector<std::byte> broadcast(std::vector<std::byte> message);
  // Every rank passes its bytes; rank 0 gets them all (by rank), the others nothing.
  std::vector<std::vector<std::byte>> gather(const std::vector<std::byte>& mine);

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace meshlm

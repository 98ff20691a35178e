// Helpers shared by mesh-bench's subcommands: timing loops with warm-up and
// a barrier before each iteration, medians, spreads over ranks, size lists,
// rank-0 printing and result files (JSON, TSV).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sharding/device_spec.h"  // write_json_file, write_text_file
#include "sharding/dtype.h"

namespace meshlm::bench {

double median(std::vector<double> samples);  // 0 for no samples
double mean(const std::vector<double>& samples);

// One value per rank -> its average, minimum and maximum over `comm` (collective).
struct RankSpread {
  double avg = 0, min = 0, max = 0;
};
RankSpread spread_over_ranks(MPI_Comm comm, double value);
// {"avg": avg * scale, "min": ..., "max": ...} (scale 1e3: seconds -> ms).
nlohmann::json spread_json(const RankSpread& s, double scale);

// Runs every function `warmup` times, then `iters` rounds in which each
// function runs once (interleaved, so drift hits them alike), each run started
// after an MPI_Barrier on `comm` and timed alone with MPI_Wtime. Returns the
// per-iteration seconds of each function: result[f][i].
std::vector<std::vector<double>> time_interleaved(MPI_Comm comm, int warmup, int iters,
                                                  const std::vector<std::function<void()>>& fns);

// "4,1001,1MiB" -> {4, 1001, 1048576} (units as parse_bytes); every entry >= 1.
std::vector<uint64_t> parse_size_list(const std::string& text);
// --dtypes "fp32,bf16" -> {f32, bf16}: weight dtypes linear() runs (fp32, bf16,
// int8, int4, mxfp4).
std::vector<DType> parse_weight_dtypes(const std::string& text);
// from, 2*from, ... up to `to` inclusive.
std::vector<uint64_t> powers_of_two(uint64_t from, uint64_t to);

// printf on rank 0 of MPI_COMM_WORLD only, flushed at once (progress lines).
void print0(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Fails (meshlm::Error naming the path) if `path` cannot be created: call it
// before measuring so a typo does not cost a whole run.
void check_writable(const std::string& path);

// A zero-initialised, 64-byte aligned byte buffer.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  AlignedBuffer(AlignedBuffer&& o) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  void* data() { return ptr_; }
  const void* data() const { return ptr_; }
  size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace meshlm::bench

#include "bench/bench_util.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <numeric>
#include <utility>

#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm::bench {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2) return v[mid];
  const double hi = v[mid];
  return (*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)) + hi) / 2;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

RankSpread spread_over_ranks(MPI_Comm comm, double value) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  RankSpread s;
  MPI_Allreduce(&value, &s.avg, 1, MPI_DOUBLE, MPI_SUM, comm);
  MPI_Allreduce(&value, &s.min, 1, MPI_DOUBLE, MPI_MIN, comm);
  MPI_Allreduce(&value, &s.max, 1, MPI_DOUBLE, MPI_MAX, comm);
  s.avg /= size;
  return s;
}

std::vector<std::vector<double>> time_interleaved(MPI_Comm comm, int warmup, int iters,
                                                  const std::vector<std::function<void()>>& fns) {
  for (int w = 0; w < warmup; ++w)
    for (const auto& fn : fns) {
      MPI_Barrier(comm);
      fn();
    }
  std::vector<std::vector<double>> times(fns.size());
  for (auto& t : times) t.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i)
    for (size_t f = 0; f < fns.size(); ++f) {
      MPI_Barrier(comm);
      const double t0 = MPI_Wtime();
      fns[f]();
      times[f].push_back(MPI_Wtime() - t0);
    }
  return times;
}

nlohmann::json spread_json(const RankSpread& s, double scale) {
  return {{"avg", s.avg * scale}, {"min", s.min * scale}, {"max", s.max * scale}};
}

std::vector<uint64_t> parse_size_list(const std::string& text) {
  std::vector<uint64_t> sizes;
  for (const std::string& item : split(text)) {
    if (item.empty())
      MESHLM_FAIL("empty entry in size list '" << text << "' (expected e.g. 4,1001,1MiB)");
    const uint64_t bytes = parse_bytes(item);
    if (bytes == 0)
      MESHLM_FAIL("size '" << item << "' in '" << text << "' must be at least 1 byte");
    sizes.push_back(bytes);
  }
  return sizes;
}

std::vector<DType> parse_weight_dtypes(const std::string& text) {
  std::vector<DType> v;
  for (const std::string& item : split(text)) {
    const DType t = parse_dtype(item);
    if (t != DType::f32 && t != DType::bf16 && t != DType::i8 && t != DType::i4 &&
        t != DType::mxfp4)
      MESHLM_FAIL("--dtypes: " << dtype_name(t)
                               << " weights are not supported (fp32, bf16, int8, int4, mxfp4)");
    v.push_back(t);
  }
  return v;
}

std::vector<uint64_t> powers_of_two(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t s = from; s <= to && s > 0; s *= 2) v.push_back(s);
  return v;
}

void print0(const char* fmt, ...) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

void check_writable(const std::string& path) {
  std::ofstream f(path, std::ios::app);
  if (!f) MESHLM_FAIL("cannot write '" << path << "': " << std::strerror(errno));
}

AlignedBuffer::AlignedBuffer(size_t bytes) : bytes_(bytes) {
  const size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  ptr_ = std::aligned_alloc(64, rounded);
  if (ptr_ == nullptr)
    MESHLM_FAIL("cannot allocate " << format_bytes(static_cast<double>(bytes))
                                   << " for a benchmark buffer");
  std::memset(ptr_, 0, rounded);
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& o) noexcept {
  *this = std::move(o);
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  return *this;
}

AlignedBuffer::~AlignedBuffer() {
  std::free(ptr_);
}

}  // namespace meshlm::bench

#include "mesh/device_memory.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "sharding/units.h"

namespace meshlm {

namespace {
// Buffers this large are anonymous mappings: zeroed, and only the pages a
// run touches cost host memory (a paged KV pool sized for the whole device).
constexpr uint64_t kMapThreshold = uint64_t{1} << 20;
}  // namespace

const char* category_name(MemCategory c) {
  switch (c) {
    case MemCategory::weights:
      return "weights";
    case MemCategory::kv_cache:
      return "kv_cache";
    case MemCategory::activations:
      return "activations";
    case MemCategory::comm:
      return "comm";
  }
  return "?";
}

DeviceMemory::DeviceMemory(uint64_t capacity_bytes, int rank, std::string device_name)
    : capacity_(capacity_bytes), rank_(rank), device_name_(std::move(device_name)) {}

std::string DeviceMemory::usage_summary() const {
  std::string s;
  for (int c = 0; c < kNumMemCategories; ++c)
    s += (c ? ", " : "") + std::string(category_name(static_cast<MemCategory>(c))) + " " +
         format_bytes(static_cast<double>(current_[c]));
  return s;
}

void* DeviceMemory::allocate(MemCategory category, uint64_t bytes, const std::string& what) {
  if (bytes > capacity_ || total_ > capacity_ - bytes)
    throw DeviceOutOfMemory(
        "rank " + std::to_string(rank_) + ": out of device memory on " + device_name_ +
        " allocating " + category_name(category) + " '" + what + "' (" +
        format_bytes(static_cast<double>(bytes)) + " = " + std::to_string(bytes) +
        " B): " + format_bytes(static_cast<double>(total_)) + " in use of " +
        format_bytes(static_cast<double>(capacity_)) + " capacity (" + usage_summary() + ")");
  void* p = nullptr;
  if (bytes >= kMapThreshold) {  // zero pages the OS hands out as they are first touched
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw Error("host mapping of " + std::to_string(bytes) + " B failed for '" + what + "'");
  } else if (bytes > 0) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    p = std::aligned_alloc(64, rounded);
    if (!p)
      throw Error("host allocation of " + std::to_string(bytes) + " B failed for '" + what + "'");
    std::memset(p, 0, rounded);
  }
  const int c = static_cast<int>(category);
  current_[c] += bytes;
  total_ += bytes;
  if (current_[c] > peak_[c]) peak_[c] = current_[c];
  if (total_ > peak_total_) peak_total_ = total_;
  return p;
}

void DeviceMemory::release(MemCategory category, uint64_t bytes, void* ptr) noexcept {
  const int c = static_cast<int>(category);
  current_[c] -= bytes;
  total_ -= bytes;
  if (bytes >= kMapThreshold)
    munmap(ptr, bytes);
  else
    std::free(ptr);
}

void DeviceMemory::reset_peaks() {
  peak_ = current_;
  peak_total_ = total_;
}

}  // namespace meshlm

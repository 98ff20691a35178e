// Simulated device memory: every rank is a device with a fixed capacity (from
// a DeviceSpec or an override such as --device-memory 64MiB). All device
// tensors are allocated through DeviceMemory, which tracks current and peak
// bytes per category and throws DeviceOutOfMemory naming the tensor, the bytes
// asked, in use and capacity, and the rank.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "sharding/error.h"

namespace meshlm {

enum class MemCategory { weights = 0, kv_cache = 1, activations = 2, comm = 3 };
inline constexpr int kNumMemCategories = 4;
const char* category_name(MemCategory c);  // "weights", "kv_cache", "activations", "comm"

class DeviceOutOfMemory : public Error {
 public:
  using Error::Error;
};

class DeviceMemory {
 public:
  DeviceMemory(uint64_t capacity_bytes, int rank, std::string device_name = "device");
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  // Zero-filled, 64-byte aligned. Throws DeviceOutOfMemory: "rank 2: out of
  // device memory allocating kv_cache 'layer 3 keys' (16.00 MiB): 60.00 MiB
  // in use of 64.00 MiB capacity (weights 40.00 MiB, ...)".
  void* allocate(MemCategory category, uint64_t bytes, const std::string& what);
  void release(MemCategory category, uint64_t bytes, void* ptr) noexcept;

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const { return total_; }
  uint64_t in_use(MemCategory c) const { return current_[static_cast<int>(c)]; }
  uint64_t peak() const { return peak_total_; }
  uint64_t peak(MemCategory c) const { return peak_[static_cast<int>(c)]; }
  void reset_peaks();
  int rank() const { return rank_; }
  const std::string& device_name() const { return device_name_; }
  std::string usage_summary() const;  // "weights 1.00 MiB, kv_cache ..."

 private:
  uint64_t capacity_;
  int rank_;
  std::string device_name_;
  uint64_t total_ = 0, peak_total_ = 0;
  std::array<uint64_t, kNumMemCategories> current_{}, peak_{};
};

// A typed, owning array in device memory (move-only).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceMemory& mem, MemCategory category, size_t count, const std::string& what)
      : mem_(&mem), category_(category), count_(count) {
    data_ = static_cast<T*>(mem.allocate(category, count * sizeof(T), what));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      std::swap(mem_, o.mem_);
      std::swap(category_, o.category_);
      std::swap(data_, o.data_);
      std::swap(count_, o.count_);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  void reset() {
    if (data_) mem_->release(category_, count_ * sizeof(T), data_);
    data_ = nullptr;
    count_ = 0;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  uint64_t bytes() const { return count_ * sizeof(T); }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  bool empty() const { return count_ == 0; }

 private:
  DeviceMemory* mem_ = nullptr;
  MemCategory category_ = MemCategory::activations;
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace meshlm

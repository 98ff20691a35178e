// DeviceMemory: per-category current/peak accounting, zero-filled aligned
// allocations, DeviceBuffer RAII, and the out-of-memory message.
#include "mesh/device_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mesh/device_choice.h"

namespace meshlm {
namespace {

TEST(DeviceMemory, TracksCurrentAndPeakPerCategory) {
  DeviceMemory mem(1 << 20, /*rank=*/0, "test-device");
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint64_t> size(1, 40000);
  // Random allocations in every category; track the expected figures alongside.
  struct Alloc {
    MemCategory c;
    uint64_t bytes;
    void* p;
  };
  std::vector<Alloc> live;
  uint64_t current[kNumMemCategories] = {}, peak[kNumMemCategories] = {};
  uint64_t total = 0, peak_total = 0;
  std::vector<uint64_t> sizes_seen;
  for (int i = 0; i < 40; ++i) {
    const auto c = static_cast<MemCategory>(i % kNumMemCategories);
    const uint64_t b = size(rng);
    sizes_seen.push_back(b);
    live.push_back({c, b, mem.allocate(c, b, std::string("t").append(std::to_string(i)))});
    current[static_cast<int>(c)] += b;
    total += b;
    peak[static_cast<int>(c)] = std::max(peak[static_cast<int>(c)], current[static_cast<int>(c)]);
    peak_total = std::max(peak_total, total);
    if (i % 3 == 2) {  // free an earlier one
      Alloc a = live[live.size() / 2];
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(live.size() / 2));
      mem.release(a.c, a.bytes, a.p);
      current[static_cast<int>(a.c)] -= a.bytes;
      total -= a.bytes;
    }
    for (int k = 0; k < kNumMemCategories; ++k) {
      EXPECT_EQ(mem.in_use(static_cast<MemCategory>(k)), current[k]);
      EXPECT_EQ(mem.peak(static_cast<MemCategory>(k)), peak[k]);
    }
    EXPECT_EQ(mem.in_use(), total);
    EXPECT_EQ(mem.peak(), peak_total);
  }
  // The sizes really varied (the generator is not stuck).
  EXPECT_GT(*std::max_element(sizes_seen.begin(), sizes_seen.end()),
            2 * *std::min_element(sizes_seen.begin(), sizes_seen.end()));
  for (auto& a : live) mem.release(a.c, a.bytes, a.p);
  EXPECT_EQ(mem.in_use(), 0u);
  EXPECT_EQ(mem.peak(), peak_total);  // peaks survive releases...
  mem.reset_peaks();
  EXPECT_EQ(mem.peak(), 0u);  // ...until reset to the current use
  EXPECT_EQ(mem.peak(MemCategory::weights), 0u);
}

TEST(DeviceMemory, AllocationsAreZeroedAndAligned) {
  DeviceMemory mem(1 << 16, 0);
  auto* p = static_cast<unsigned char*>(mem.allocate(MemCategory::activations, 1000, "x"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], 0) << "byte " << i;
  mem.release(MemCategory::activations, 1000, p);
  EXPECT_EQ(mem.allocate(MemCategory::comm, 0, "empty"), nullptr);
  EXPECT_EQ(mem.in_use(), 0u);
}

TEST(DeviceMemory, OutOfMemoryMessageNamesTensorBytesUseCapacityAndRank) {
  DeviceMemory mem(64ull << 20, /*rank=*/2, "tpu-v4-8");
  void* w = mem.allocate(MemCategory::weights, 40ull << 20, "model.layers.0.mlp.up_proj.weight");
  void* kv = mem.allocate(MemCategory::kv_cache, 20ull << 20, "layer 0 keys");
  try {
    mem.allocate(MemCategory::kv_cache, 16ull << 20, "layer 3 keys");
    FAIL() << "expected DeviceOutOfMemory";
  } catch (const DeviceOutOfMemory& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("rank 2"), std::string::npos) << m;
    EXPECT_NE(m.find("'layer 3 keys'"), std::string::npos) << m;
    EXPECT_NE(m.find("kv_cache"), std::string::npos) << m;
    EXPECT_NE(m.find("16.00 MiB"), std::string::npos) << m;  // bytes asked
    EXPECT_NE(m.find(std::to_string(16ull << 20)), std::string::npos) << m;
    EXPECT_NE(m.find("60.00 MiB in use"), std::string::npos) << m;    // in use
    EXPECT_NE(m.find("64.00 MiB capacity"), std::string::npos) << m;  // capacity
    EXPECT_NE(m.find("tpu-v4-8"), std::string::npos) << m;
    EXPECT_NE(m.find("weights 40.00 MiB"), std::string::npos) << m;  // breakdown
  }
  // The failed allocation changed nothing.
  EXPECT_EQ(mem.in_use(), 60ull << 20);
  EXPECT_EQ(mem.in_use(MemCategory::kv_cache), 20ull << 20);
  // Exactly filling the capacity is fine; one byte more is not.
  void* rest = mem.allocate(MemCategory::activations, 4ull << 20, "rest");
  EXPECT_EQ(mem.in_use(), mem.capacity());
  EXPECT_THROW(mem.allocate(MemCategory::comm, 1, "one byte"), DeviceOutOfMemory);
  // A request larger than the whole capacity (no overflow in the check).
  EXPECT_THROW(mem.allocate(MemCategory::comm, UINT64_MAX, "huge"), DeviceOutOfMemory);
  mem.release(MemCategory::activations, 4ull << 20, rest);
  mem.release(MemCategory::kv_cache, 20ull << 20, kv);
  mem.release(MemCategory::weights, 40ull << 20, w);
}

TEST(DeviceMemory, DeviceBufferReleasesOnDestructionAndMove) {
  DeviceMemory mem(1 << 20, 0);
  {
    DeviceBuffer<float> a(mem, MemCategory::activations, 1000, "a");
    EXPECT_EQ(a.size(), 1000u);
    EXPECT_EQ(a.bytes(), 4000u);
    EXPECT_EQ(mem.in_use(MemCategory::activations), 4000u);
    a[999] = 3.5f;
    DeviceBuffer<float> b = std::move(a);
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(b[999], 3.5f);
    EXPECT_EQ(mem.in_use(), 4000u);  // moved, not copied
    DeviceBuffer<float> c(mem, MemCategory::comm, 10, "c");
    c = std::move(b);  // c's old 40 B are released
    EXPECT_EQ(mem.in_use(), 4000u);
    EXPECT_EQ(mem.in_use(MemCategory::comm), 0u);
  }
  EXPECT_EQ(mem.in_use(), 0u);
  EXPECT_EQ(mem.peak(), 4040u);
}

TEST(DeviceChoice, MemoryOverrideReplacesCapacity) {
  DeviceChoice c = choose_device("tpu-v4-8", "64MiB");
  EXPECT_EQ(c.capacity, 64ull << 20);
  EXPECT_TRUE(c.overridden);
  EXPECT_NE(c.describe().find("64.00 MiB"), std::string::npos) << c.describe();
  DeviceChoice d = choose_device("tpu-v4-8", "");
  EXPECT_EQ(d.capacity, 32ull << 30);  // the spec's 32 GiB HBM
  EXPECT_FALSE(d.overridden);
  EXPECT_THROW(choose_device("tpu-v4-8", "0"), Error);
  EXPECT_THROW(choose_device("no-such-device", ""), Error);
}

}  // namespace
}  // namespace meshlm

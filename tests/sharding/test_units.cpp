// Byte sizes, list splitting/joining and dtype conversions users type or read.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "sharding/dtype.h"
#include "sharding/error.h"
#include "sharding/units.h"

namespace meshlm {
namespace {

TEST(Units, ParseBytesDecimalAndBinary) {
  EXPECT_EQ(parse_bytes("64MiB"), 64ull << 20);
  EXPECT_EQ(parse_bytes("32GB"), 32'000'000'000ull);
  EXPECT_EQ(parse_bytes("32 GiB"), 32ull << 30);
  EXPECT_EQ(parse_bytes("1048576"), 1048576ull);
  EXPECT_EQ(parse_bytes("1.5kib"), 1536ull);
  EXPECT_THROW(parse_bytes("12 parsecs"), Error);
  EXPECT_THROW(parse_bytes("MiB"), Error);
}

// Silently saturated or half-parsed sizes are errors (docs/DESIGN.md §9).
TEST(Units, ParseBytesRefusesOverflowAndJunk) {
  EXPECT_EQ(parse_bytes("1TiB"), uint64_t{1} << 40);
  try {
    parse_bytes("99999999999999TiB");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the"), std::string::npos) << e.what();
  }
  for (const char* bad : {".", "1.2.3GB", "..5"}) EXPECT_THROW(parse_bytes(bad), Error) << bad;
}

TEST(Units, SplitIsTheInverseOfJoin) {
  EXPECT_EQ(split("dp,mp"), (std::vector<std::string>{"dp", "mp"}));
  EXPECT_EQ(split("a,,b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split(""), (std::vector<std::string>{""}));
  EXPECT_EQ(split("1x2x3", 'x'), (std::vector<std::string>{"1", "2", "3"}));
  for (const std::string s : {"dp,mp", "a,,b", ",x,", "single"}) EXPECT_EQ(join(split(s), ","), s);
}

TEST(Dtype, Bf16RoundsToNearestEvenAndKeepsNaN) {
  EXPECT_EQ(float_to_bf16(1.0f).bits, 0x3f80);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  // 1 + 3*2^-8 is halfway too: ties go to even (1 + 2^-6).
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(std::numeric_limits<float>::infinity()))));
  for (float f : {0.0f, -2.5f, 3.140625f, 65280.0f}) EXPECT_EQ(bf16_to_float(float_to_bf16(f)), f);
}

}  // namespace
}  // namespace meshlm

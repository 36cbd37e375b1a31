#include "sessions/crc32c.h"

#include <random>
#include <string>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate::crc32c {
namespace {

std::string RandomBytes(size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Vectors from RFC 3720 (iSCSI) B.4 and LevelDB's crc32c_test.
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62a8ab43u);
  std::string ascending(32, '\0'), descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Value(ascending), 0x46dd794eu);
  EXPECT_EQ(Value(descending), 0x113fdb5cu);
  EXPECT_EQ(Value("", 0), 0u);
}

TEST(Crc32cTest, ExtendEqualsValueOfConcatenation) {
  std::mt19937_64 rng(TestSeed());
  for (int trial = 0; trial < 200; ++trial) {
    const std::string a = RandomBytes(rng() % 300, rng);
    const std::string b = RandomBytes(rng() % 300, rng);
    EXPECT_EQ(Extend(Value(a), b), Value(a + b));
  }
}

TEST(Crc32cTest, PortableAndHardwareAgreeAtEveryLengthAndAlignment) {
  std::mt19937_64 rng(TestSeed());
  const std::string buffer = RandomBytes(4096 + 16, rng);
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t n = 0; n < 300; ++n) {
      const uint32_t init = static_cast<uint32_t>(rng());
      const uint32_t portable = internal::ExtendPortable(init, buffer.data() + offset, n);
      EXPECT_EQ(Extend(init, buffer.data() + offset, n), portable);
      if (internal::HasHardwareSupport()) {
        EXPECT_EQ(internal::ExtendHardware(init, buffer.data() + offset, n), portable);
      }
    }
  }
}

TEST(Crc32cTest, DifferentDataGivesDifferentCrc) {
  std::mt19937_64 rng(TestSeed());
  std::string data = RandomBytes(1000, rng);
  const uint32_t before = Value(data);
  data[rng() % data.size()] ^= static_cast<char>(1 + rng() % 255);
  EXPECT_NE(Value(data), before);  // CRC32C detects every single-byte change
}

TEST(Crc32cTest, MaskIsInvertibleAndChangesTheValue) {
  std::mt19937_64 rng(TestSeed());
  for (int trial = 0; trial < 1000; ++trial) {
    const uint32_t crc = static_cast<uint32_t>(rng());
    EXPECT_NE(Mask(crc), crc);
    EXPECT_NE(Mask(Mask(crc)), crc);
    EXPECT_EQ(Unmask(Mask(crc)), crc);
    EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
  }
}

}  // namespace
}  // namespace hecate::crc32c

#include "client/ctl/argument_values.h"

#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/ctl/usage_error.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(ChunkBytesValueTest, AcceptsOneToOneGibibyte) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  const int64_t value = std::uniform_int_distribution<int64_t>(1, int64_t{1} << 30)(random);
  ASSERT_TRUE(ChunkBytesValue(value).ok());
  EXPECT_EQ(*ChunkBytesValue(value), static_cast<size_t>(value));
  EXPECT_TRUE(ChunkBytesValue(1).ok());
  for (int64_t bad : {int64_t{0}, int64_t{-1}, (int64_t{1} << 30) + 1}) {
    absl::StatusOr<size_t> result = ChunkBytesValue(bad);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_TRUE(IsUsageError(result.status()));
    EXPECT_NE(result.status().message().find("--chunk_bytes"), absl::string_view::npos);
  }
}

TEST(StopBytesValueTest, UnescapesEveryByte) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::string bytes(std::uniform_int_distribution<int>(1, 64)(random), '\0');
  for (char& c : bytes) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random));
  absl::StatusOr<std::string> parsed = StopBytesValue(absl::CHexEscape(bytes));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, bytes);
  EXPECT_EQ(*StopBytesValue("\\n."), "\n.");
  EXPECT_EQ(*StopBytesValue(""), "");
}

TEST(StopBytesValueTest, BadEscapeIsAUsageError) {
  absl::StatusOr<std::string> parsed = StopBytesValue("\\q");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(IsUsageError(parsed.status()));
  EXPECT_NE(parsed.status().message().find("--stop"), absl::string_view::npos);
}

TEST(ExpectedPulseValueTest, EmptyIsUnsetDigitsAreAPulse) {
  const uint64_t pulse = std::mt19937_64(std::random_device()())();
  absl::StatusOr<absl::optional<uint64_t>> parsed = ExpectedPulseValue(absl::StrCat(pulse));
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ(**parsed, pulse);
  EXPECT_EQ(**ExpectedPulseValue("0"), 0u);
  EXPECT_FALSE(ExpectedPulseValue("")->has_value());
}

TEST(ExpectedPulseValueTest, AnythingElseIsAUsageError) {
  for (const char* bad : {"-1", "+5", "12x", "x", "18446744073709551616", "1.5"}) {
    absl::StatusOr<absl::optional<uint64_t>> parsed = ExpectedPulseValue(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(IsUsageError(parsed.status())) << bad;
    EXPECT_NE(parsed.status().message().find(bad), absl::string_view::npos);
  }
}

TEST(ExpectedPulseValueTest, NamesTheFlagItWasGiven) {
  absl::Status status = ExpectedPulseValue("x", "expected_pulse_id").status();
  EXPECT_TRUE(IsUsageError(status));
  EXPECT_NE(status.message().find("--expected_pulse_id"), absl::string_view::npos) << status;
}

TEST(StopSequencesValueTest, CommaSeparatedWithEscapes) {
  EXPECT_TRUE(StopSequencesValue("")->empty());
  EXPECT_EQ(*StopSequencesValue("\\n\\n,THE END,a\\054b"),
            (std::vector<std::string>{"\n\n", "THE END", "a,b"}));
  for (const char* bad : {",", "a,,b", "a,", "\\x"}) {
    absl::Status status = StopSequencesValue(bad).status();
    EXPECT_TRUE(IsUsageError(status)) << bad;
    EXPECT_NE(status.message().find("--stop_sequences"), absl::string_view::npos) << status;
  }
}

TEST(ValidateTimeoutTest, PositiveOrInfinite) {
  EXPECT_TRUE(ValidateTimeout(absl::Milliseconds(1)).ok());
  EXPECT_TRUE(ValidateTimeout(absl::InfiniteDuration()).ok());
  EXPECT_TRUE(IsUsageError(ValidateTimeout(absl::ZeroDuration())));
  EXPECT_TRUE(IsUsageError(ValidateTimeout(-absl::Seconds(1))));
}

TEST(UsageErrorTest, OnlyMarkedStatusesAreUsageErrors) {
  EXPECT_TRUE(IsUsageError(UsageError("x")));
  EXPECT_TRUE(absl::IsInvalidArgument(UsageError("x")));
  EXPECT_FALSE(IsUsageError(absl::InvalidArgumentError("from the server")));
  EXPECT_FALSE(IsUsageError(absl::OkStatus()));
  const std::vector<std::string> two = {"a", "b"};
  absl::Status status = ExpectArguments("get", two, 1, 1, "ID");
  EXPECT_TRUE(IsUsageError(status));
  EXPECT_EQ(status.message(), "usage: hecatectl get ID (got 2 arguments)");
  EXPECT_TRUE(ExpectArguments("get", two, 1, 2, "ID [X]").ok());
}

}  // namespace
}  // namespace hecate

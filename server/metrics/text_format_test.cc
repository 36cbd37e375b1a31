#include "server/metrics/text_format.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace hecate::metrics {
namespace {

TEST(TextFormatTest, MetricNames) {
  EXPECT_TRUE(IsValidMetricName("hecate_tokens_total"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_TRUE(IsValidMetricName(":recording:rule"));
  EXPECT_TRUE(IsValidMetricName("a1:b2_C3"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_FALSE(IsValidMetricName("a.b"));
  EXPECT_FALSE(IsValidMetricName("caf\xc3\xa9"));
}

TEST(TextFormatTest, LabelNames) {
  EXPECT_TRUE(ValidateLabelName("method").ok());
  EXPECT_TRUE(ValidateLabelName("_x9").ok());
  EXPECT_TRUE(ValidateLabelName("_").ok());
  for (const char* bad : {"", "9a", "a:b", "a-b", "__name__", "__x", "le",
                          "quantile", "a b"}) {
    const absl::Status status = ValidateLabelName(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ValidateLabelName("le").message().find("reserved"),
            absl::string_view::npos);
}

TEST(TextFormatTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("a\x80z"));            // stray continuation
}

TEST(TextFormatTest, EscapeHelp) {
  EXPECT_EQ(EscapeHelp("plain \"quoted\""), "plain \"quoted\"");
  EXPECT_EQ(EscapeHelp("a\\b\nc"), "a\\\\b\\nc");
}

TEST(TextFormatTest, EscapeLabelValue) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

TEST(TextFormatTest, FormatSpecialValues) {
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatDouble(std::nan("")), "NaN");
  EXPECT_EQ(FormatDouble(0.0), "0");
  EXPECT_EQ(FormatDouble(42.0), "42");
  EXPECT_EQ(FormatDouble(0.005), "0.005");
  EXPECT_EQ(FormatDouble(-2.5), "-2.5");
}

// Prometheus parses with Go's strconv.ParseFloat, which agrees with strtod on
// these forms; the shortest text must give back the very same bits.
TEST(TextFormatTest, FormatDoubleRoundTripsRandomBits) {
  std::mt19937_64 rng(std::random_device{}());
  int checked = 0;
  while (checked < 20000) {
    const uint64_t bits = rng();
    double value;
    std::memcpy(&value, &bits, sizeof(value));
    if (!std::isfinite(value)) continue;
    const std::string text = FormatDouble(value);
    char* end = nullptr;
    const double parsed = std::strtod(text.c_str(), &end);
    ASSERT_EQ(*end, '\0') << text;
    ASSERT_EQ(std::memcmp(&parsed, &value, sizeof(value)), 0) << text;
    ++checked;
  }
}

TEST(TextFormatTest, SampleLine) {
  std::string out;
  AppendSampleLine("m", "", "", "", 1.5, &out);
  AppendSampleLine("m", "_bucket", "a=\"x\"", "le=\"0.1\"", 3, &out);
  AppendSampleLine("m", "_sum", "", "quantile=\"0.5\"", 2, &out);
  AppendSampleLine("m", "_count", "a=\"x\",b=\"y\"", "", 7, &out);
  EXPECT_EQ(out,
            "m 1.5\n"
            "m_bucket{a=\"x\",le=\"0.1\"} 3\n"
            "m_sum{quantile=\"0.5\"} 2\n"
            "m_count{a=\"x\",b=\"y\"} 7\n");
}

}  // namespace
}  // namespace hecate::metrics

#include "absl/time/time.h"
#include "client/bench/bench_runner.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(ValidateBenchOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateBenchOptions(BenchOptions()).ok());
}

TEST(ValidateBenchOptionsTest, EachBadFieldIsNamed) {
  struct Case {
    const char* field;
    void (*spoil)(BenchOptions&);
  };
  const Case cases[] = {
      {"sessions", [](BenchOptions& o) { o.sessions = 0; }},
      {"sessions", [](BenchOptions& o) { o.sessions = 10001; }},
      {"chunk_bytes", [](BenchOptions& o) { o.chunk_bytes = 0; }},
      {"tokens", [](BenchOptions& o) { o.tokens = -1; }},
      {"duration", [](BenchOptions& o) { o.duration = absl::ZeroDuration(); }},
      {"requests_per_session", [](BenchOptions& o) { o.requests_per_session = -1; }},
      {"top_k", [](BenchOptions& o) { o.top_k = -1; }},
      {"top_k", [](BenchOptions& o) { o.top_k = 257; }},
      {"max_tokens", [](BenchOptions& o) { o.max_tokens = 0; }},
      {"max_tokens", [](BenchOptions& o) { o.max_tokens = 65537; }},
      {"spread_pulses", [](BenchOptions& o) { o.spread_pulses = -1; }},
  };
  for (const Case& c : cases) {
    BenchOptions options;
    c.spoil(options);
    absl::Status status = ValidateBenchOptions(options);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << c.field;
    EXPECT_NE(status.message().find(c.field), absl::string_view::npos) << status;
  }
}

TEST(ValidateBenchOptionsTest, TokenBudgetReplacesTheDuration) {
  BenchOptions options;
  options.duration = absl::ZeroDuration();
  options.tokens = 1 << 20;
  EXPECT_TRUE(ValidateBenchOptions(options).ok());
}

TEST(BenchReportTest, RatesAndErrorTotals) {
  BenchReport report;
  report.wall_seconds = 2;
  report.chunks = 300;
  report.tokens = 300 * 4096;
  report.errors_by_code = {{"NOT_FOUND", 3}, {"UNAVAILABLE", 2}};
  EXPECT_DOUBLE_EQ(report.chunks_per_second(), 150);
  EXPECT_DOUBLE_EQ(report.tokens_per_second(), 150 * 4096);
  EXPECT_EQ(report.error_count(), 5);
  report.wall_seconds = 0;
  EXPECT_EQ(report.chunks_per_second(), 0);
}

}  // namespace
}  // namespace hecate

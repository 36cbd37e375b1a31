#include "client/bench/latency_stats.h"

#include <algorithm>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace hecate {
namespace {

// The nearest-rank definition, checked directly: v is the p-th percentile iff
// at least p% of samples are <= v and fewer than p% are < v.
void ExpectIsNearestRank(const std::vector<double>& samples, double percent, double value) {
  const double n = static_cast<double>(samples.size());
  const double at_most = std::count_if(samples.begin(), samples.end(),
                                       [&](double s) { return s <= value; });
  const double below = std::count_if(samples.begin(), samples.end(),
                                     [&](double s) { return s < value; });
  EXPECT_GE(at_most, percent / 100.0 * n - 1e-9) << "p" << percent;
  EXPECT_LT(below, percent / 100.0 * n) << "p" << percent;
  EXPECT_NE(std::find(samples.begin(), samples.end(), value), samples.end());
}

TEST(LatencyStatsTest, ShuffledOneToHundredGivesExactRanks) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::vector<double> values;
  for (int i = 1; i <= 100; ++i) values.push_back(i);
  std::shuffle(values.begin(), values.end(), random);
  LatencyStats stats;
  for (double v : values) stats.Add(v);
  LatencyStats::Summary summary = stats.Summarize();
  EXPECT_EQ(summary.count, 100u);
  EXPECT_EQ(summary.p50, 50);
  EXPECT_EQ(summary.p90, 90);
  EXPECT_EQ(summary.p99, 99);
  EXPECT_EQ(summary.max, 100);
  EXPECT_DOUBLE_EQ(summary.mean, 50.5);
  EXPECT_EQ(stats.Percentile(1), 1);
  EXPECT_EQ(stats.Percentile(100), 100);
}

TEST(LatencyStatsTest, RandomSamplesSatisfyTheNearestRankDefinition) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> count(1, 3000);
  std::lognormal_distribution<double> latency(-5, 1);  // ~7 ms, long tail
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> samples(count(random));
    for (double& s : samples) s = latency(random);
    // Duplicates, as real timers produce.
    if (trial % 2 == 0) samples.insert(samples.end(), samples.begin(), samples.begin() + samples.size() / 3);
    LatencyStats stats;
    for (double s : samples) stats.Add(s);
    for (double p : {0.1, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
      ExpectIsNearestRank(samples, p, stats.Percentile(p));
    }
    LatencyStats::Summary summary = stats.Summarize();
    EXPECT_EQ(summary.max, *std::max_element(samples.begin(), samples.end()));
    EXPECT_EQ(summary.p99, stats.Percentile(99));
    EXPECT_LE(summary.p50, summary.p90);
    EXPECT_LE(summary.p90, summary.p99);
    EXPECT_LE(summary.p99, summary.max);
  }
}

TEST(LatencyStatsTest, MergeEqualsAddingEverySample) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::exponential_distribution<double> latency(100);
  LatencyStats all;
  LatencyStats merged;
  for (int part = 0; part < 8; ++part) {
    LatencyStats piece;
    for (int i = 0; i < 97 + part; ++i) {
      const double s = latency(random);
      piece.Add(s);
      all.Add(s);
    }
    merged.Merge(piece);
  }
  LatencyStats::Summary a = all.Summarize();
  LatencyStats::Summary b = merged.Summarize();
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.p50, b.p50);
  EXPECT_EQ(a.p90, b.p90);
  EXPECT_EQ(a.p99, b.p99);
  EXPECT_EQ(a.max, b.max);
  EXPECT_DOUBLE_EQ(a.mean, b.mean);
}

TEST(LatencyStatsTest, EmptyIsAllZero) {
  LatencyStats stats;
  LatencyStats::Summary summary = stats.Summarize();
  EXPECT_EQ(summary.count, 0u);
  EXPECT_EQ(summary.p99, 0);
  EXPECT_EQ(summary.max, 0);
  EXPECT_EQ(stats.Percentile(50), 0);
}

TEST(NearestRankPercentileTest, OutOfRangePercentsAreClamped) {
  const std::vector<double> sorted = {0.25, 0.5, 0.75};
  EXPECT_EQ(NearestRankPercentile(sorted, -5), 0.25);
  EXPECT_EQ(NearestRankPercentile(sorted, 0), 0.25);
  EXPECT_EQ(NearestRankPercentile(sorted, 250), 0.75);
}

}  // namespace
}  // namespace hecate

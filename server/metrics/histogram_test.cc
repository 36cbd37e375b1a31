#include "server/metrics/histogram.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hecate::metrics {
namespace {

TEST(BucketsTest, Exponential) {
  absl::StatusOr<std::vector<double>> buckets = ExponentialBuckets(0.001, 2, 4);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_EQ(*buckets, (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  EXPECT_FALSE(ExponentialBuckets(0, 2, 4).ok());
  EXPECT_FALSE(ExponentialBuckets(-1, 2, 4).ok());
  EXPECT_FALSE(ExponentialBuckets(1, 1, 4).ok());
  EXPECT_FALSE(ExponentialBuckets(1, std::nan(""), 4).ok());
  EXPECT_FALSE(ExponentialBuckets(1, 2, 0).ok());
  EXPECT_FALSE(ExponentialBuckets(1, 2, 1001).ok());
  EXPECT_FALSE(ExponentialBuckets(1e300, 1e10, 3).ok());  // overflows to +Inf
}

TEST(BucketsTest, Linear) {
  absl::StatusOr<std::vector<double>> buckets = LinearBuckets(-1, 0.5, 5);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_EQ(*buckets, (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_FALSE(LinearBuckets(0, 0, 3).ok());
  EXPECT_FALSE(LinearBuckets(0, -1, 3).ok());
  EXPECT_FALSE(LinearBuckets(std::nan(""), 1, 3).ok());
  EXPECT_FALSE(LinearBuckets(1e20, 1e-10, 3).ok());  // bounds would repeat
}

TEST(HistogramTest, ValidateOptions) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(Histogram::ValidateOptions({{}}).ok());
  EXPECT_TRUE(Histogram::ValidateOptions({{1, 2, 3}}).ok());
  EXPECT_TRUE(Histogram::ValidateOptions({{1, 2, inf}}).ok());
  EXPECT_FALSE(Histogram::ValidateOptions({{1, 1}}).ok());
  EXPECT_FALSE(Histogram::ValidateOptions({{2, 1}}).ok());
  EXPECT_FALSE(Histogram::ValidateOptions({{1, std::nan(""), 3}}).ok());
  EXPECT_FALSE(Histogram::ValidateOptions({{-inf, 1}}).ok());
  EXPECT_FALSE(Histogram::ValidateOptions({{1, inf, 3}}).ok());
}

TEST(HistogramTest, BoundIsInclusive) {
  Histogram histogram({{1, 2}});
  histogram.Observe(1.0);   // le="1"
  histogram.Observe(1.5);   // le="2"
  histogram.Observe(2.0);   // le="2"
  histogram.Observe(2.01);  // +Inf
  const Histogram::Snapshot snapshot = histogram.TakeSnapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 6.51);
}

TEST(HistogramTest, CountsMatchBruteForceOnRandomData) {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<int> bucket_count(1, 40);
  std::normal_distribution<double> value(0.0, 3.0);
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<std::vector<double>> bounds =
        LinearBuckets(-5.0, 10.0 / bucket_count(rng), bucket_count(rng));
    ASSERT_TRUE(bounds.ok());
    Histogram histogram({*bounds});
    const int n = 1 + static_cast<int>(rng() % 5000);
    std::vector<uint64_t> expected(bounds->size() + 1, 0);
    double expected_sum = 0;
    for (int i = 0; i < n; ++i) {
      const double v = value(rng);
      histogram.Observe(v);
      expected_sum += v;
      // Cumulative: every bucket whose bound is >= v, and +Inf.
      for (size_t b = 0; b < bounds->size(); ++b) {
        if (v <= (*bounds)[b]) ++expected[b];
      }
      ++expected.back();
    }
    const Histogram::Snapshot snapshot = histogram.TakeSnapshot();
    EXPECT_EQ(snapshot.count, static_cast<uint64_t>(n));
    EXPECT_EQ(snapshot.cumulative_counts, expected);
    EXPECT_NEAR(snapshot.sum, expected_sum, 1e-9 * n);
  }
}

TEST(HistogramTest, NanIsRejectedAndInfinitiesCount) {
  Histogram histogram({{0.5}});
  histogram.Observe(std::nan(""));
  EXPECT_EQ(histogram.rejected_observations(), 1u);
  EXPECT_EQ(histogram.TakeSnapshot().count, 0u);
  histogram.Observe(-std::numeric_limits<double>::infinity());
  histogram.Observe(std::numeric_limits<double>::infinity());
  EXPECT_EQ(histogram.TakeSnapshot().cumulative_counts,
            (std::vector<uint64_t>{1, 2}));
}

TEST(HistogramTest, Exposition) {
  Histogram histogram({{0.25, 1}});
  histogram.Observe(0.125);
  histogram.Observe(3);
  std::string out;
  histogram.AppendSamples("lat_seconds", "m=\"Get\"", &out);
  EXPECT_EQ(out,
            "lat_seconds_bucket{m=\"Get\",le=\"0.25\"} 1\n"
            "lat_seconds_bucket{m=\"Get\",le=\"1\"} 1\n"
            "lat_seconds_bucket{m=\"Get\",le=\"+Inf\"} 2\n"
            "lat_seconds_sum{m=\"Get\"} 3.125\n"
            "lat_seconds_count{m=\"Get\"} 2\n");
}

}  // namespace
}  // namespace hecate::metrics

#include "server/metrics/sliding_window_summary.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/metrics/text_format.h"

namespace hecate::metrics {
namespace {

// A clock the test moves by hand.
struct FakeClock {
  std::shared_ptr<std::atomic<int64_t>> nanos =
      std::make_shared<std::atomic<int64_t>>(1'000'000'000);
  std::function<int64_t()> Function() const {
    auto shared = nanos;
    return [shared] { return shared->load(); };
  }
  void Advance(absl::Duration d) { *nanos += absl::ToInt64Nanoseconds(d); }
};

// The exact q-quantile as the summary defines it: the sample of rank
// max(1, ceil(q * n)) in sorted order.
double ExactQuantile(std::vector<double> samples, double q) {
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  return samples[rank - 1];
}

SlidingWindowSummary::Options TestOptions(const FakeClock& clock) {
  SlidingWindowSummary::Options options;
  options.quantiles = {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
  options.clock_nanos = clock.Function();
  return options;
}

TEST(SlidingWindowSummaryTest, QuantilesWithinDocumentedRelativeError) {
  std::mt19937_64 rng(std::random_device{}());
  FakeClock clock;
  for (int bits : {3, 6, 9}) {
    SlidingWindowSummary::Options options = TestOptions(clock);
    options.sub_bucket_bits = bits;
    ASSERT_TRUE(SlidingWindowSummary::ValidateOptions(options).ok());
    SlidingWindowSummary summary(options);
    const double bound = summary.relative_error_bound();
    EXPECT_DOUBLE_EQ(bound, std::ldexp(1.0, -(bits + 1)));
    // Latency-like: log-normal around 5 ms, spanning ~20 us to ~1 s.
    std::lognormal_distribution<double> latency(std::log(0.005), 1.2);
    std::vector<double> samples(20000 + rng() % 20000);
    for (double& s : samples) {
      s = latency(rng);
      summary.Observe(s);
    }
    const SlidingWindowSummary::Snapshot snapshot = summary.TakeSnapshot();
    EXPECT_EQ(snapshot.window_count, samples.size());
    EXPECT_EQ(snapshot.count, samples.size());
    ASSERT_EQ(snapshot.quantiles.size(), options.quantiles.size());
    for (const auto& [q, value] : snapshot.quantiles) {
      const double exact = ExactQuantile(samples, q);
      EXPECT_LE(std::abs(value - exact), bound * exact)
          << "bits " << bits << " q " << q << " exact " << exact << " got "
          << value;
    }
  }
}

// Exercises the accuracy claim where the distribution is tight (many samples in
// few buckets) and where values cross many octaves.
TEST(SlidingWindowSummaryTest, AccurateOnNarrowAndWideDistributions) {
  std::mt19937_64 rng(std::random_device{}());
  FakeClock clock;
  std::vector<std::vector<double>> cases(2);
  std::uniform_real_distribution<double> narrow(0.0100, 0.0102);
  std::uniform_real_distribution<double> exponent(-19.5, 13.5);
  for (int i = 0; i < 5000; ++i) {
    cases[0].push_back(narrow(rng));
    cases[1].push_back(std::exp2(exponent(rng)));
  }
  for (const std::vector<double>& samples : cases) {
    SlidingWindowSummary summary(TestOptions(clock));
    for (double s : samples) summary.Observe(s);
    for (const auto& [q, value] : summary.TakeSnapshot().quantiles) {
      const double exact = ExactQuantile(samples, q);
      EXPECT_LE(std::abs(value - exact),
                summary.relative_error_bound() * exact)
          << "q " << q;
    }
  }
}

TEST(SlidingWindowSummaryTest, OutOfRangeValues) {
  FakeClock clock;
  SlidingWindowSummary::Options options = TestOptions(clock);
  options.quantiles = {0.0, 1.0};
  SlidingWindowSummary summary(options);
  summary.Observe(0.0);       // below 2^-20: reported as 2^-21
  summary.Observe(1e9);       // above 2^14: reported as +Inf
  const SlidingWindowSummary::Snapshot snapshot = summary.TakeSnapshot();
  EXPECT_EQ(snapshot.quantiles[0].second, std::ldexp(1.0, -21));
  EXPECT_EQ(snapshot.quantiles[1].second,
            std::numeric_limits<double>::infinity());
  summary.Observe(-1.0);
  summary.Observe(std::nan(""));
  EXPECT_EQ(summary.rejected_observations(), 2u);
  EXPECT_EQ(summary.TakeSnapshot().count, 2u);
}

TEST(SlidingWindowSummaryTest, EmptyWindowIsNan) {
  FakeClock clock;
  SlidingWindowSummary summary(TestOptions(clock));
  for (const auto& [q, value] : summary.TakeSnapshot().quantiles) {
    EXPECT_TRUE(std::isnan(value)) << q;
  }
}

TEST(SlidingWindowSummaryTest, OldSamplesLeaveTheWindow) {
  std::mt19937_64 rng(std::random_device{}());
  FakeClock clock;
  SlidingWindowSummary::Options options = TestOptions(clock);
  options.window = absl::Seconds(60);
  options.slots = 6;  // 10 s slots
  SlidingWindowSummary summary(options);
  std::uniform_real_distribution<double> slow(1.0, 2.0);
  std::uniform_real_distribution<double> fast(0.001, 0.002);
  for (int i = 0; i < 1000; ++i) summary.Observe(slow(rng));
  clock.Advance(absl::Seconds(30));
  std::vector<double> recent;
  for (int i = 0; i < 1000; ++i) {
    recent.push_back(fast(rng));
    summary.Observe(recent.back());
  }
  // 30 s later both batches are inside the window.
  EXPECT_EQ(summary.TakeSnapshot().window_count, 2000u);
  // 60 s after the slow batch its slot has been recycled; the fast batch,
  // 30 s old, is still there.
  clock.Advance(absl::Seconds(30));
  SlidingWindowSummary::Snapshot snapshot = summary.TakeSnapshot();
  EXPECT_EQ(snapshot.window_count, 1000u);
  EXPECT_EQ(snapshot.count, 2000u);  // lifetime count keeps everything
  for (const auto& [q, value] : snapshot.quantiles) {
    const double exact = ExactQuantile(recent, q);
    EXPECT_LE(std::abs(value - exact), summary.relative_error_bound() * exact);
  }
  // A long idle gap empties the window entirely.
  clock.Advance(absl::Hours(5));
  EXPECT_EQ(summary.TakeSnapshot().window_count, 0u);
}

TEST(SlidingWindowSummaryTest, MemoryStaysBoundedAfterMillionObservations) {
  std::mt19937_64 rng(std::random_device{}());
  FakeClock clock;
  SlidingWindowSummary summary(TestOptions(clock));
  const size_t bytes_before = summary.MemoryBytes();
  EXPECT_LT(bytes_before, 128u * 1024);  // documented: ~102 KiB by default
  std::lognormal_distribution<double> latency(std::log(0.01), 2.0);
  const size_t heap_before = mallinfo2().uordblks;
  for (int i = 0; i < 1'000'000; ++i) {
    if (i % 100'000 == 0) clock.Advance(absl::Seconds(7));
    summary.Observe(latency(rng));
  }
  const size_t heap_after = mallinfo2().uordblks;
  EXPECT_EQ(summary.MemoryBytes(), bytes_before);
  // Nothing is allocated per observation (allow some slack for the runtime).
  EXPECT_LT(heap_after, heap_before + 64 * 1024);
  const SlidingWindowSummary::Snapshot snapshot = summary.TakeSnapshot();
  EXPECT_EQ(snapshot.count, 1'000'000u);
  // The 60 s window with 10 s slots kept whole slots only: fewer than all.
  EXPECT_GT(snapshot.window_count, 0u);
  EXPECT_LT(snapshot.window_count, 1'000'000u);
}

TEST(SlidingWindowSummaryTest, ValidateOptionsRejectsBadInput) {
  using Options = SlidingWindowSummary::Options;
  EXPECT_TRUE(SlidingWindowSummary::ValidateOptions(Options()).ok());
  auto rejects = [](auto mutate) {
    Options options;
    mutate(options);
    return SlidingWindowSummary::ValidateOptions(options).code() ==
           absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(rejects([](Options& o) { o.quantiles = {0.5, 0.5}; }));
  EXPECT_TRUE(rejects([](Options& o) { o.quantiles = {0.9, 0.5}; }));
  EXPECT_TRUE(rejects([](Options& o) { o.quantiles = {1.5}; }));
  EXPECT_TRUE(rejects([](Options& o) { o.quantiles = {std::nan("")}; }));
  EXPECT_TRUE(rejects([](Options& o) { o.slots = 1; }));
  EXPECT_TRUE(rejects([](Options& o) { o.window = absl::ZeroDuration(); }));
  EXPECT_TRUE(rejects([](Options& o) { o.window = absl::Microseconds(10); }));
  EXPECT_TRUE(rejects([](Options& o) { o.sub_bucket_bits = 0; }));
  EXPECT_TRUE(rejects([](Options& o) { o.sub_bucket_bits = 13; }));
  EXPECT_TRUE(rejects([](Options& o) { o.lowest_trackable = 0; }));
  EXPECT_TRUE(rejects([](Options& o) { o.highest_trackable = 1e-7; }));
  EXPECT_TRUE(rejects([](Options& o) { o.highest_trackable = 1e308; }));
  EXPECT_TRUE(rejects([](Options& o) {  // too much memory
    o.lowest_trackable = 1e-300;
    o.highest_trackable = 1e300;
    o.sub_bucket_bits = 12;
  }));
}

TEST(SlidingWindowSummaryTest, Exposition) {
  FakeClock clock;
  SlidingWindowSummary::Options options;
  options.clock_nanos = clock.Function();
  SlidingWindowSummary summary(options);
  summary.Observe(0.5);
  summary.Observe(0.5);
  std::string out;
  summary.AppendSamples("lat_seconds", "", &out);
  // 0.5 is the lower edge of its bucket [0.5, 0.5 * (1 + 1/64)).
  const std::string mid = FormatDouble(0.5 + 0.5 / 128);
  EXPECT_EQ(out, "lat_seconds{quantile=\"0.5\"} " + mid + "\n" +
                     "lat_seconds{quantile=\"0.9\"} " + mid + "\n" +
                     "lat_seconds{quantile=\"0.99\"} " + mid + "\n" +
                     "lat_seconds_sum 1\nlat_seconds_count 2\n");
}

}  // namespace
}  // namespace hecate::metrics

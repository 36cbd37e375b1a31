// Several threads observe the same metrics while another thread scrapes:
// nothing is lost, and every intermediate scrape is self-consistent.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/metrics/registry.h"

namespace hecate::metrics {
namespace {

TEST(ConcurrencyTest, ObservationsAreNeverLostAndScrapesStayConsistent) {
  MetricRegistry registry;
  Family<Histogram>* histograms = *registry.AddHistogram(
      "lat_seconds", "h", {"worker_group"}, {*ExponentialBuckets(1e-4, 4, 8)});
  Family<Counter>* counters = *registry.AddCounter("events_total", "h");
  Family<SlidingWindowSummary>* summaries =
      *registry.AddSummary("window_seconds", "h", {});
  Family<Gauge>* gauges = *registry.AddGauge("inflight", "h");
  Histogram* histogram = *histograms->WithLabels({"shared"});
  Counter* counter = *counters->WithLabels({});
  SlidingWindowSummary* summary = *summaries->WithLabels({});
  Gauge* gauge = *gauges->WithLabels({});

  constexpr int kThreads = 6;
  const int per_thread = 20000 + static_cast<int>(std::random_device{}() % 5000);
  std::vector<std::vector<uint64_t>> per_bucket(
      kThreads, std::vector<uint64_t>(9, 0));
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};

  std::thread scraper([&] {
    while (!done.load()) {
      const Histogram::Snapshot s = histogram->TakeSnapshot();
      // Cumulative counts never decrease and +Inf equals _count.
      for (size_t b = 1; b < s.cumulative_counts.size(); ++b) {
        ASSERT_LE(s.cumulative_counts[b - 1], s.cumulative_counts[b]);
      }
      ASSERT_EQ(s.cumulative_counts.back(), s.count);
      registry.Expose();
      scrapes.fetch_add(1);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(std::random_device{}() + t);
      std::lognormal_distribution<double> latency(std::log(0.003), 1.5);
      const std::vector<double> bounds = *ExponentialBuckets(1e-4, 4, 8);
      for (int i = 0; i < per_thread; ++i) {
        const double v = latency(rng);
        histogram->Observe(v);
        const size_t bucket =
            std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
        ++per_bucket[t][bucket];
        counter->Increment();
        summary->Observe(v);
        gauge->Increment();
        gauge->Decrement();
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  done.store(true);
  scraper.join();

  const uint64_t total = static_cast<uint64_t>(kThreads) * per_thread;
  const Histogram::Snapshot s = histogram->TakeSnapshot();
  EXPECT_EQ(s.count, total);
  uint64_t cumulative = 0;
  for (size_t b = 0; b < s.cumulative_counts.size(); ++b) {
    for (int t = 0; t < kThreads; ++t) cumulative += per_bucket[t][b];
    EXPECT_EQ(s.cumulative_counts[b], cumulative) << "bucket " << b;
  }
  EXPECT_EQ(cumulative, total);
  EXPECT_EQ(counter->Value(), static_cast<double>(total));
  EXPECT_EQ(summary->TakeSnapshot().count, total);
  EXPECT_EQ(gauge->Value(), 0.0);
  EXPECT_GT(scrapes.load(), 0);
}

// Children created concurrently: each label set gets exactly one child, and
// every increment lands in it, while scrapes run alongside.
TEST(ConcurrencyTest, ConcurrentChildCreationYieldsOneChildPerLabelSet) {
  MetricRegistry registry;
  Family<Counter>* family =
      *registry.AddCounter("calls_total", "h", {"method", "code"});
  constexpr int kThreads = 4;
  constexpr int kMethods = 5;
  constexpr int kCodes = 4;
  const int per_thread = 2000 + static_cast<int>(std::random_device{}() % 1000);
  std::vector<std::vector<int>> expected(kThreads,
                                         std::vector<int>(kMethods * kCodes, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(std::random_device{}() + t);
      for (int i = 0; i < per_thread; ++i) {
        const int method = static_cast<int>(rng() % kMethods);
        const int code = static_cast<int>(rng() % kCodes);
        const std::string m = "M" + std::to_string(method);
        const std::string c = "C" + std::to_string(code);
        (*family->WithLabels({m, c}))->Increment();
        ++expected[t][method * kCodes + code];
        if (i % 500 == 0) registry.Expose();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = registry.Expose();
  for (int method = 0; method < kMethods; ++method) {
    for (int code = 0; code < kCodes; ++code) {
      int total = 0;
      for (int t = 0; t < kThreads; ++t) total += expected[t][method * kCodes + code];
      if (total == 0) continue;
      const std::string m = "M" + std::to_string(method);
      const std::string c = "C" + std::to_string(code);
      EXPECT_EQ((*family->WithLabels({m, c}))->Value(), total);
      const std::string line = "calls_total{method=\"" + m + "\",code=\"" + c +
                               "\"} " + std::to_string(total) + "\n";
      EXPECT_NE(text.find(line), std::string::npos) << line;
    }
  }
}

}  // namespace
}  // namespace hecate::metrics

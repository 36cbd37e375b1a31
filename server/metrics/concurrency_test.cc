// Several threads record through hecated's catalogue (prometheus-cpp metrics)
// while another thread scrapes: nothing is lost, every intermediate scrape is
// self-consistent, and labelled children created concurrently are created
// once.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/metrics/exposition.h"
#include "server/metrics/hecate_metrics.h"

namespace hecate::metrics {
namespace {

// The value of the sample line that starts with `prefix` ("name{labels} "),
// or -1 when there is none.
double Sample(const std::string& text, const std::string& prefix) {
  size_t at = text.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  at += 1 + prefix.size();
  return std::stod(text.substr(at, text.find('\n', at) - at));
}

TEST(ConcurrencyTest, ObservationsAreNeverLostAndScrapesStayConsistent) {
  prometheus::Registry registry;
  std::unique_ptr<ServerMetrics> m = *ServerMetrics::Create(&registry, ServerMetricsOptions());
  const uint64_t seed = TestSeed();
  std::mt19937_64 seeder(seed);

  constexpr int kThreads = 4;
  const int per_thread = 20000 + static_cast<int>(seeder() % 5000);
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};

  std::thread scraper([&] {
    while (!done.load()) {
      const std::string text = SerializeText(m->Collectables());
      // Within one histogram, +Inf equals _count (prometheus-cpp collects a
      // histogram under its lock), and the gauge's pairs never leave it
      // below zero.
      const double count = Sample(text, "hecate_chunk_forward_duration_seconds_count ");
      const double inf = Sample(text, "hecate_chunk_forward_duration_seconds_bucket{le=\"+Inf\"} ");
      ASSERT_EQ(count, inf) << text;
      ASSERT_GE(Sample(text, "hecate_active_streams "), 0);
      scrapes.fetch_add(1);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t, thread_seed = seeder()] {
      std::mt19937_64 rng(thread_seed);
      std::lognormal_distribution<double> latency(std::log(0.003), 1.5);
      for (int i = 0; i < per_thread; ++i) {
        const double v = latency(rng);
        m->active_streams->Add(1);
        m->chunk_forward_duration_seconds->Observe(v);
        m->chunk_latency_seconds->Observe(v);
        m->tokens_in->Increment();
        // Labelled children, created by whichever thread comes first.
        m->ObserveRequest("M" + std::to_string(rng() % 5), i % 3 == 0 ? "OK" : "INTERNAL", v);
        m->active_streams->Add(-1);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  done.store(true);
  scraper.join();

  const double total = static_cast<double>(kThreads) * per_thread;
  const std::string text = SerializeText(m->Collectables());
  EXPECT_EQ(Sample(text, "hecate_chunk_forward_duration_seconds_count "), total);
  EXPECT_EQ(Sample(text, "hecate_chunk_latency_seconds_count "), total);
  EXPECT_EQ(Sample(text, "hecate_tokens_total{direction=\"in\"} "), total);
  EXPECT_EQ(Sample(text, "hecate_active_streams "), 0);
  double requests = 0;
  for (int method = 0; method < 5; ++method) {
    for (const char* code : {"INTERNAL", "OK"}) {
      const std::string labels =
          std::string("{code=\"") + code + "\",method=\"M" + std::to_string(method) + "\"} ";
      const double n = Sample(text, "hecate_request_duration_seconds_count" + labels);
      if (n > 0) requests += n;
      // One child per label set: its series appears exactly once.
      const std::string line = "\nhecate_request_duration_seconds_count" + labels;
      const size_t first = text.find(line);
      if (first != std::string::npos) {
        EXPECT_EQ(text.find(line, first + 1), std::string::npos) << line;
      }
    }
  }
  EXPECT_EQ(requests, total);
  EXPECT_GT(scrapes.load(), 0);
}

}  // namespace
}  // namespace hecate::metrics

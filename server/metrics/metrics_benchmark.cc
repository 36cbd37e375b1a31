// Hot-path cost of one metric update, single- and multi-threaded (threads
// share one metric, the worst case for contention), on the prometheus-cpp
// metrics hecated uses, configured as its catalogue configures them.
//   bazel run -c opt //server/metrics:metrics_benchmark
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/summary.h"
#include "server/metrics/exposition.h"

namespace hecate::metrics {
namespace {

std::vector<double> Latencies() {
  std::mt19937_64 rng(std::random_device{}());
  std::lognormal_distribution<double> latency(std::log(0.005), 1.0);
  std::vector<double> values(4096);
  for (double& v : values) v = latency(rng);
  return values;
}

// As hecate_metrics.cc: 0.1 ms .. 13 s in powers of two.
prometheus::Histogram::BucketBoundaries ChunkBuckets(double start = 0.0001) {
  prometheus::Histogram::BucketBoundaries bounds;
  for (int i = 0; i < 18; ++i) bounds.push_back(start * std::pow(2.0, i));
  return bounds;
}

// As hecate_chunk_latency_seconds: p50/p90/p99 over 60 s in 6 age buckets.
const prometheus::Summary::Quantiles& Quantiles() {
  static const auto* quantiles =
      new prometheus::Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}};
  return *quantiles;
}

prometheus::Counter* SharedCounter() {
  static auto* counter = new prometheus::Counter;
  return counter;
}
prometheus::Histogram* SharedHistogram() {
  static auto* histogram = new prometheus::Histogram(ChunkBuckets());
  return histogram;
}
prometheus::Summary* SharedSummary() {
  static auto* summary = new prometheus::Summary(Quantiles(), std::chrono::seconds(60), 6);
  return summary;
}

void BM_CounterIncrement(benchmark::State& state) {
  prometheus::Counter* counter = SharedCounter();
  for (auto _ : state) counter->Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2)->Threads(4);

void BM_HistogramObserve(benchmark::State& state) {
  prometheus::Histogram* histogram = SharedHistogram();
  const std::vector<double> values = Latencies();
  size_t i = 0;
  for (auto _ : state) histogram->Observe(values[i++ & 4095]);
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->Threads(4);

void BM_SummaryObserve(benchmark::State& state) {
  prometheus::Summary* summary = SharedSummary();
  const std::vector<double> values = Latencies();
  size_t i = 0;
  for (auto _ : state) summary->Observe(values[i++ & 4095]);
}
BENCHMARK(BM_SummaryObserve)->Threads(1)->Threads(2)->Threads(4);

// prometheus-cpp's summary costs more the more its window holds (CKMS
// samples); BM_SummaryObserve above fills one window with millions. Here each
// iteration fills a fresh window with range(0) observations: at 100 chunks/s
// hecated's 60 s window holds 6000. Per observation: 1e9 / items_per_second.
void BM_SummaryFillWindow(benchmark::State& state) {
  const std::vector<double> values = Latencies();
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    prometheus::Summary summary(Quantiles(), std::chrono::seconds(60), 6);
    for (int i = 0; i < n; ++i) summary.Observe(values[i & 4095]);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_SummaryFillWindow)->Arg(1000)->Arg(10000);

void BM_ExposeServerSizedRegistry(benchmark::State& state) {
  prometheus::Registry registry;
  auto& requests =
      prometheus::BuildHistogram().Name("requests_seconds").Help("h").Register(registry);
  for (const char* method : {"Create", "Get", "List", "Delete", "Stream",
                             "Generate", "Export", "Restore"}) {
    for (const char* code : {"OK", "NOT_FOUND", "INVALID_ARGUMENT"}) {
      requests.Add({{"method", method}, {"code", code}}, ChunkBuckets(0.0005)).Observe(0.01);
    }
  }
  prometheus::BuildSummary()
      .Name("window_seconds")
      .Help("h")
      .Register(registry)
      .Add({}, Quantiles(), std::chrono::seconds(60), 6)
      .Observe(0.01);
  size_t bytes = 0;
  for (auto _ : state) bytes = SerializeText({&registry}).size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ExposeServerSizedRegistry);

}  // namespace
}  // namespace hecate::metrics

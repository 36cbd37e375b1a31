// Hot-path cost of one metric update, single- and multi-threaded (threads
// share one metric, the worst case for contention).
//   bazel run //server/metrics:metrics_benchmark
#include <cmath>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/metrics/registry.h"

namespace hecate::metrics {
namespace {

std::vector<double> Latencies() {
  std::mt19937_64 rng(std::random_device{}());
  std::lognormal_distribution<double> latency(std::log(0.005), 1.0);
  std::vector<double> values(4096);
  for (double& v : values) v = latency(rng);
  return values;
}

Counter* SharedCounter() {
  static Counter* counter = new Counter;
  return counter;
}
Histogram* SharedHistogram() {
  static Histogram* histogram =
      new Histogram({*ExponentialBuckets(0.0001, 2, 18)});
  return histogram;
}
SlidingWindowSummary* SharedSummary() {
  static SlidingWindowSummary* summary =
      new SlidingWindowSummary(SlidingWindowSummary::Options());
  return summary;
}

void BM_CounterIncrement(benchmark::State& state) {
  Counter* counter = SharedCounter();
  for (auto _ : state) counter->Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2)->Threads(4);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram* histogram = SharedHistogram();
  const std::vector<double> values = Latencies();
  size_t i = 0;
  for (auto _ : state) histogram->Observe(values[i++ & 4095]);
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->Threads(4);

void BM_SummaryObserve(benchmark::State& state) {
  SlidingWindowSummary* summary = SharedSummary();
  const std::vector<double> values = Latencies();
  size_t i = 0;
  for (auto _ : state) summary->Observe(values[i++ & 4095]);
}
BENCHMARK(BM_SummaryObserve)->Threads(1)->Threads(2)->Threads(4);

void BM_ExposeServerSizedRegistry(benchmark::State& state) {
  MetricRegistry registry;
  Family<Histogram>* requests = *registry.AddHistogram(
      "requests_seconds", "h", {"method", "code"},
      {*ExponentialBuckets(0.0005, 2, 18)});
  for (const char* method : {"Create", "Get", "List", "Delete", "Stream",
                             "Generate", "Export", "Restore"}) {
    for (const char* code : {"OK", "NOT_FOUND", "INVALID_ARGUMENT"}) {
      (*requests->WithLabels({method, code}))->Observe(0.01);
    }
  }
  (*(*registry.AddSummary("window_seconds", "h", {}))->WithLabels({}))
      ->Observe(0.01);
  size_t bytes = 0;
  for (auto _ : state) bytes = registry.Expose().size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ExposeServerSizedRegistry);

}  // namespace
}  // namespace hecate::metrics

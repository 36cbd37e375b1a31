// CPU reference throughput: prefill and decode tokens/s for the tiny and
// base configs, and ForwardBatch decode at 1, 2, 4 and 64 sessions (Google Benchmark). Run:
//   bazel run //backends/cpu:cpu_benchmark -- --benchmark_min_time=2
#include <memory>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "benchmark/benchmark.h"

namespace hecate {
namespace {

std::shared_ptr<const Model> ModelFor(const char* preset) {
  static std::shared_ptr<const Model> tiny = *LoadModel("random:tiny", 1);
  static std::shared_ptr<const Model> base;
  if (std::string(preset) == "tiny") return tiny;
  if (!base) base = *LoadModel("random:base", 1);
  return base;
}

std::vector<uint8_t> Tokens(size_t n) {
  std::mt19937 rng(7);
  std::vector<uint8_t> t(n);
  for (auto& v : t) v = rng() & 0xff;
  return t;
}

void Prefill(benchmark::State& bench, const char* preset) {
  auto backend = MakeCpuBackend(ModelFor(preset));
  const std::vector<uint8_t> tokens = Tokens(bench.range(0));
  auto state = *backend->NewState();
  std::vector<float> logits;
  for (auto _ : bench) {
    absl::Status s = backend->Forward(*state, tokens, LogitsMode::kLast, &logits);
    if (!s.ok()) bench.SkipWithError(std::string(s.message()).c_str());
  }
  bench.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(bench.iterations() * tokens.size()), benchmark::Counter::kIsRate);
}

void Decode(benchmark::State& bench, const char* preset) {
  auto backend = MakeCpuBackend(ModelFor(preset));
  auto state = *backend->NewState();
  std::vector<float> logits;
  // Warm the window so attention spans its full width.
  (void)backend->Forward(*state, Tokens(backend->model().config().window), LogitsMode::kNone,
                         nullptr);
  uint8_t token = 65;
  for (auto _ : bench) {
    absl::Status s = backend->Forward(*state, absl::MakeConstSpan(&token, 1), LogitsMode::kLast, &logits);
    if (!s.ok()) bench.SkipWithError(std::string(s.message()).c_str());
    token = static_cast<uint8_t>((token * 31 + 7) & 0xff);
  }
  bench.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(bench.iterations()), benchmark::Counter::kIsRate);
}

// One engine step of decode at `sessions` sessions: ForwardBatch with one
// token each, every state past its window. What a served decode at that many
// sessions can reach at most on the CPU (tools/serving_vs_engine_cpu.sh).
// Arg 1: ForwardBatch's batch_parallelism (0: the pool; 1: the old loop).
void DecodeBatch(benchmark::State& bench, const char* preset) {
  CpuBackendOptions options;
  options.batch_parallelism = static_cast<int>(bench.range(1));
  auto backend = MakeCpuBackend(ModelFor(preset), options);
  const int sessions = static_cast<int>(bench.range(0));
  std::vector<std::unique_ptr<BackendState>> states;
  std::vector<std::vector<float>> logits(sessions);
  std::vector<uint8_t> tokens(sessions);
  const std::vector<uint8_t> warm = Tokens(backend->model().config().window);
  for (int i = 0; i < sessions; ++i) {
    states.push_back(*backend->NewState());
    (void)backend->Forward(*states.back(), warm, LogitsMode::kNone, nullptr);
    tokens[i] = static_cast<uint8_t>(65 + i);
  }
  std::vector<ForwardItem> items;
  for (int i = 0; i < sessions; ++i) {
    items.push_back({states[i].get(), absl::MakeConstSpan(&tokens[i], 1), LogitsMode::kLast,
                     &logits[i]});
  }
  for (auto _ : bench) {
    absl::Status s = backend->ForwardBatch(absl::MakeSpan(items));
    if (!s.ok()) bench.SkipWithError(std::string(s.message()).c_str());
    for (uint8_t& t : tokens) t = static_cast<uint8_t>((t * 31 + 7) & 0xff);
  }
  bench.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(bench.iterations() * sessions), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(DecodeBatch, tiny, "tiny")
    ->Args({64, 0})
    ->Args({64, 1})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({4, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(Prefill, tiny, "tiny")->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Decode, tiny, "tiny")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(Prefill, base, "base")->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Decode, base, "base")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace hecate

BENCHMARK_MAIN();

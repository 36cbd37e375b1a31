// CPU reference throughput: prefill and decode tokens/s for the tiny and
// base configs (Google Benchmark). Run:
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

BENCHMARK_CAPTURE(Prefill, tiny, "tiny")->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Decode, tiny, "tiny")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(Prefill, base, "base")->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Decode, base, "base")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace hecate

BENCHMARK_MAIN();

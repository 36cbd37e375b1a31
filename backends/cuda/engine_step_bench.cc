// engine_step_bench: the engine's own speed for the cases serving is compared
// against (tools/device_runs/serving_vs_engine.sh): decode steps of B
// sessions (one token each) and prefill chunks of T tokens at B sessions,
// each one Backend::ForwardBatch call with the backend options hecated uses
// (CUDA: CudaBackendOptions defaults, --gemm, --weights; CPU: CpuBackendOptions
// defaults, items in parallel). Steps are timed one by one, host overhead
// and the logits copy included, as the engine loop will see them.
//
//   engine_step_bench --backend=cuda --model=random:base --decode=64,256,1024
//       --prefill=2048 --prefill_batch=1 [--json]
//   engine_step_bench --backend=cpu --model=random:tiny --decode=64 --prefill= --json
//
// --trace_csv=PATH records every kernel and copy of every case through CUPTI
// (kernels/testing/kernel_trace.h; the steps' times are then those of a
// traced run) and writes them to PATH, one line each: case,batch,tokens,
// step,start_ns,end_ns,stream,blocks,shared_bytes,name (step: the timed
// step whose ForwardBatch call was the last to start before the record did)
// (tools/device_runs/step_timeline.py reads it).
//
// --json prints one line per case:
//   {"backend":"cuda","gemm":"fp32","weights":"fp32","case":"decode","batch":64,
//    "tokens":1,"steps":...,"step_ms_p50":...,"step_ms_p99":...,"tokens_per_second":...}
// Builds without a GPU (the CPU backend runs anywhere).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/bench_state.h"
#include "backends/cuda/cuda_backend.h"
#include "base/status_macros.h"
#include "kernels/testing/kernel_trace.h"
#include "runtime/model.h"
#include "runtime/model_state.h"

ABSL_FLAG(std::string, backend, "cpu", "cpu or cuda");
ABSL_FLAG(std::string, gemm, "fp32", "cuda: fp32, tf32 or 3xtf32, as hecated's --gemm");
ABSL_FLAG(std::string, weights, "fp32", "cuda: fp32 or bf16, as hecated's --weights");
ABSL_FLAG(std::string, model, "random:tiny", "model folder or random:PRESET");
ABSL_FLAG(uint64_t, seed, 1, "seed of a random:PRESET model");
ABSL_FLAG(std::string, decode, "64", "comma-separated session counts of decode steps");
ABSL_FLAG(std::string, prefill, "", "comma-separated chunk lengths T of prefill steps");
ABSL_FLAG(int32_t, prefill_batch, 1, "sessions in each prefill step");
ABSL_FLAG(double, min_seconds, 2.0, "time each case at least this long (and >= 5 steps)");
ABSL_FLAG(bool, json, false, "one JSON line per case instead of a table");
ABSL_FLAG(std::string, trace_csv, "", "record every kernel through CUPTI into this CSV file");

namespace hecate {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<std::vector<int>> ParseList(const std::string& text, const char* flag) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(part, &value) || value < 1) {
      return absl::InvalidArgumentError(absl::StrFormat("--%s: bad entry '%s'", flag, part));
    }
    out.push_back(value);
  }
  return out;
}


struct CaseResult {
  std::string name;  // "decode" or "prefill"
  int batch = 0;
  int tokens = 0;  // per session per step
  int steps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double tokens_per_second = 0;
  // With --trace_csv: when each timed step's call started, and when the last
  // ended, on the trace's clock.
  std::vector<uint64_t> step_starts;
  uint64_t traced_to = 0;
};

absl::StatusOr<CaseResult> TimeCase(Backend& backend, const std::string& name, int batch,
                                    int tokens) {
  const ModelConfig& config = backend.model().config();
  std::vector<std::unique_ptr<BackendState>> states;
  ModelState staged = BenchState(config, 5, 0);
  for (int b = 0; b < batch; ++b) {
    HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend.NewState());
    staged.set_pulse_id(1000 + 37 * b);  // different fire and ring phases
    HECATE_RETURN_IF_ERROR(backend.Upload(staged, *state));
    states.push_back(std::move(state));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(batch) * tokens * 8);
  uint64_t x = 0x2545F4914F6CDD1Dull;
  for (uint8_t& b : bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x >> 56) % config.vocab_size;
  }
  std::vector<std::vector<float>> logits(batch);
  std::vector<ForwardItem> items(batch);
  int step = 0;
  auto run_step = [&]() -> absl::Status {
    const size_t round = static_cast<size_t>(step++ % 8) * batch * tokens;
    for (int b = 0; b < batch; ++b) {
      items[b] = {states[b].get(),
                  absl::MakeConstSpan(bytes).subspan(round + static_cast<size_t>(b) * tokens,
                                                     tokens),
                  LogitsMode::kLast, &logits[b]};
    }
    return backend.ForwardBatch(absl::MakeSpan(items));
  };
  for (int i = 0; i < 3; ++i) HECATE_RETURN_IF_ERROR(run_step());  // warm-up (graphs, caches)
  const bool traced = !absl::GetFlag(FLAGS_trace_csv).empty();
  std::vector<uint64_t> step_starts;
  std::vector<double> seconds;
  const auto start = Clock::now();
  const double min_seconds = absl::GetFlag(FLAGS_min_seconds);
  while (seconds.size() < 5 ||
         std::chrono::duration<double>(Clock::now() - start).count() < min_seconds) {
    const auto t0 = Clock::now();
    if (traced) step_starts.push_back(testing::KernelTraceNow());
    HECATE_RETURN_IF_ERROR(run_step());
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  double total = 0;
  for (double s : seconds) total += s;
  std::sort(seconds.begin(), seconds.end());
  CaseResult r;
  r.name = name;
  r.batch = batch;
  r.tokens = tokens;
  r.steps = static_cast<int>(seconds.size());
  r.p50_ms = seconds[seconds.size() / 2] * 1e3;
  r.p99_ms = seconds[std::min(seconds.size() - 1, seconds.size() * 99 / 100)] * 1e3;
  r.tokens_per_second = static_cast<double>(batch) * tokens * seconds.size() / total;
  r.step_starts = std::move(step_starts);
  r.traced_to = traced ? testing::KernelTraceNow() : 0;
  return r;
}

// The trace's records of each case's timed steps, as --trace_csv describes.
absl::Status WriteTrace(const std::string& path, const std::vector<CaseResult>& results) {
  HECATE_ASSIGN_OR_RETURN(std::vector<testing::TracedActivity> trace, testing::StopKernelTrace());
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::InvalidArgumentError("--trace_csv: cannot write " + path);
  std::fprintf(f, "case,batch,tokens,step,start_ns,end_ns,stream,blocks,shared_bytes,name\n");
  size_t rows = 0;
  for (const CaseResult& r : results) {
    for (const testing::TracedActivity& a : trace) {
      if (r.step_starts.empty() || a.start_ns < r.step_starts[0] || a.end_ns > r.traced_to) {
        continue;
      }
      const size_t step = std::upper_bound(r.step_starts.begin(), r.step_starts.end(),
                                           a.start_ns) - r.step_starts.begin() - 1;
      std::string name = a.name;  // quoted for CSV
      for (size_t i = name.find('"'); i != std::string::npos; i = name.find('"', i + 2)) {
        name.insert(i, 1, '"');
      }
      std::fprintf(f, "%s,%d,%d,%zu,%llu,%llu,%u,%lld,%d,\"%s\"\n", r.name.c_str(), r.batch,
                   r.tokens, step, static_cast<unsigned long long>(a.start_ns),
                   static_cast<unsigned long long>(a.end_ns), a.stream,
                   static_cast<long long>(a.blocks), a.shared_bytes, name.c_str());
      ++rows;
    }
  }
  const bool closed = std::fclose(f) == 0;
  if (!closed) return absl::InternalError("--trace_csv: write failed");
  std::fprintf(stderr, "engine_step_bench: %zu traced kernels and copies in %s\n", rows,
               path.c_str());
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string backend_name = absl::GetFlag(FLAGS_backend);
  HECATE_ASSIGN_OR_RETURN(std::vector<int> decode,
                          ParseList(absl::GetFlag(FLAGS_decode), "decode"));
  HECATE_ASSIGN_OR_RETURN(std::vector<int> prefill,
                          ParseList(absl::GetFlag(FLAGS_prefill), "prefill"));
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
                          LoadModel(absl::GetFlag(FLAGS_model), absl::GetFlag(FLAGS_seed)));
  const std::string gemm = absl::GetFlag(FLAGS_gemm);
  HECATE_ASSIGN_OR_RETURN(GemmMode gemm_mode, ParseGemmMode(gemm));
  HECATE_ASSIGN_OR_RETURN(WeightFormat weights, ParseWeightFormat(absl::GetFlag(FLAGS_weights)));
  const std::string trace_csv = absl::GetFlag(FLAGS_trace_csv);
  if (!trace_csv.empty()) {
    if (backend_name != "cuda") {
      return absl::InvalidArgumentError("--trace_csv needs --backend=cuda");
    }
    HECATE_RETURN_IF_ERROR(testing::StartKernelTrace());  // before any graph is made
  }
  std::unique_ptr<Backend> backend;
  if (backend_name == "cuda") {
    CudaBackendOptions options;  // hecated's: only --gemm and --weights are set from flags
    options.gemm = gemm_mode;
    options.weights = weights;
    HECATE_ASSIGN_OR_RETURN(backend, MakeCudaBackend(model, options));
  } else if (backend_name == "cpu") {
    if (weights != WeightFormat::kFp32) {
      return absl::InvalidArgumentError("--backend=cpu: --weights=fp32 only (as hecated)");
    }
    if (gemm_mode == GemmMode::k3xTf32) {
      return absl::InvalidArgumentError("--backend=cpu: no --gemm=3xtf32 (as hecated)");
    }
    backend = MakeCpuBackend(model);
  } else {
    return absl::InvalidArgumentError("--backend must be cpu or cuda");
  }
  const bool json = absl::GetFlag(FLAGS_json);
  if (!json) {
    std::printf("%s (gemm %s, weights %s) %s, state %.1f MB per session\n",
                backend_name.c_str(), gemm.c_str(), std::string(WeightFormatName(weights)).c_str(),
                model->config().Summary().c_str(),
                StateLayout(model->config()).total_bytes() / 1e6);
    std::printf("%-8s %6s %6s %7s %12s %12s %12s\n", "case", "B", "T", "steps", "step p50 ms",
                "step p99 ms", "tokens/s");
  }
  auto print = [&](const CaseResult& r) {
    if (json) {
      std::printf(
          "{\"backend\":\"%s\",\"gemm\":\"%s\",\"weights\":\"%s\",\"case\":\"%s\","
          "\"batch\":%d,\"tokens\":%d,\"steps\":%d,\"step_ms_p50\":%.4f,\"step_ms_p99\":%.4f,"
          "\"tokens_per_second\":%.1f}\n",
          backend_name.c_str(), gemm.c_str(), std::string(WeightFormatName(weights)).c_str(),
          r.name.c_str(), r.batch, r.tokens, r.steps, r.p50_ms, r.p99_ms, r.tokens_per_second);
    } else {
      std::printf("%-8s %6d %6d %7d %12.3f %12.3f %12.0f\n", r.name.c_str(), r.batch, r.tokens,
                  r.steps, r.p50_ms, r.p99_ms, r.tokens_per_second);
    }
    std::fflush(stdout);
  };
  // Prefill first: a case's states go back to the pool only between later
  // steps, so after 1024 decode sessions (122 GB of base states on an H200)
  // the prefill's first launches found no device memory (H200, 2026-12-03:
  // "CmsRingFold launch: cudaErrorMemoryAllocation").
  std::vector<CaseResult> results;
  for (int tokens : prefill) {
    HECATE_ASSIGN_OR_RETURN(
        CaseResult r,
        TimeCase(*backend, "prefill", std::max(1, absl::GetFlag(FLAGS_prefill_batch)), tokens));
    print(r);
    results.push_back(r);
  }
  for (int batch : decode) {
    HECATE_ASSIGN_OR_RETURN(CaseResult r, TimeCase(*backend, "decode", batch, 1));
    print(r);
    results.push_back(r);
  }
  if (!trace_csv.empty()) return WriteTrace(trace_csv, results);
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = hecate::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "engine_step_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

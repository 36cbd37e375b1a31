// Whole-model benchmark of the CUDA backend on the `base` config
// (random:base): decode steps at B = 1 and B = 256 and prefill of T = 2048,
// through the public Backend interface (host overhead and the final
// synchronisation included). Prints a table.
//
// The decode floor is the bytes a step must move: the weights once plus each
// session's state read and written once, over the device-to-device copy
// bandwidth measured in the same run (kernels/testing/bench_util.h).
//
// Rows name the mode: "fp32", "tf32" and "3xtf32" (GEMM math, fp32
// weights; 3xtf32: three TF32 tensor-core GEMMs on hi/lo splits, fp32
// accuracy), "bf16w" (the layers' matrices stored as bf16, fp32 GEMMs on
// the widened matrices), "bf16w+tf32" and "bf16w+3xtf32"; bf16w rows'
// floors count the weights' bf16 bytes (weight_format.h's WeightBytes).
// Stage breakdowns follow, the 3xtf32 ones last ("stage breakdown
// (3xtf32)": their "tf32 split", "gemm" and, for steps stacked into one
// W_hi GEMM, "tf32 add" stages against fp32's; HECATE_3XTF32_MIN_ROWS and
// HECATE_3XTF32_STACK_ROWS move the limits, forward_engine.h).
//
//   bazel run //backends/cuda:cuda_backend_bench [-- --quick] [--weights=DIR]
//
// --weights=DIR times a model folder (config.json + model.safetensors)
// instead of random:base, e.g. the one tools/peer_bench.py writes so the
// PyTorch peer and Hecate run the very same weights; the run then also
// prints one `check_logits {...}` JSON line (fp32 logits after the bytes
// "Hecate peer check." from a fresh state) for the peer to compare.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backends/cuda/bench_state.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/forward_engine.h"
#include "backends/cuda/weight_format.h"
#include "base/status_macros.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model.h"
#include "runtime/model_state.h"

namespace hecate {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}


std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t x = seed * 0x2545F4914F6CDD1Dull + 7;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x >> 56);
  }
  return out;
}

struct Row {
  std::string name;
  int batch;
  int tokens;
  double ms;
  double floor_ms;      // 0 when not a bandwidth floor
  double min_floor_ms;  // bytes a step must touch
};

// Median seconds of `repeats` calls of `fn` after `warmup` calls.
template <typename Fn>
absl::StatusOr<double> TimeCalls(int warmup, int repeats, Fn fn) {
  for (int i = 0; i < warmup; ++i) {
    HECATE_RETURN_IF_ERROR(fn());
  }
  std::vector<double> seconds;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    HECATE_RETURN_IF_ERROR(fn());
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return Median(seconds);
}

// Per-stage device time of one step (events between stages, no graphs);
// cms_spans false: the slow levels token by token (the pre-span baseline).
absl::Status Breakdown(std::shared_ptr<const Model> model, int batch, int tokens,
                       bool cms_spans = true, WeightFormat weights = WeightFormat::kFp32,
                       GemmMode gemm = GemmMode::kFp32) {
  const ModelConfig& config = model->config();
  ForwardEngineOptions options;
  options.cms_spans = cms_spans;
  options.weights = weights;
  options.gemm = gemm;
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<ForwardEngine> engine,
                          ForwardEngine::Create(model, options));
  const StateLayout layout(config);
  std::vector<float*> states(batch, nullptr);
  std::vector<uint64_t> pulses(batch);
  absl::Status status = absl::OkStatus();
  const ModelState start = BenchState(config, 9, 0);
  for (int b = 0; b < batch && status.ok(); ++b) {
    status = CudaStatus(
        cudaMalloc(reinterpret_cast<void**>(&states[b]), engine->ring().state_bytes()),
        "cudaMalloc state");
    if (status.ok()) {
      status = CudaStatus(cudaMemcpy(states[b], start.data().data(), layout.total_bytes(),
                                     cudaMemcpyHostToDevice),
                          "state upload");
    }
    pulses[b] = 1000 + 37 * b;
    if (status.ok()) status = engine->ring().Reset(states[b], pulses[b], engine->stream());
  }
  std::vector<float> logits(size_t(batch) * config.vocab_size);
  const std::vector<uint8_t> tokens_in = RandomBytes(size_t(batch) * tokens, 11);
  constexpr int kRepeats = 3;
  for (int i = 0; i <= kRepeats && status.ok(); ++i) {
    if (i == 1) engine->ClearProfile();
    engine->set_profiling(true);
    status = engine->Step(states, pulses, tokens_in, tokens, LogitsMode::kLast, logits.data());
  }
  if (status.ok()) {
    std::vector<std::pair<double, std::string>> stages;
    double total = 0;
    for (const auto& [name, ms] : engine->profile_ms()) {
      stages.push_back({ms / kRepeats, name});
      total += ms / kRepeats;
    }
    std::sort(stages.rbegin(), stages.rend());
    // fp32 weights and GEMMs keep the header the device scripts grep for;
    // other modes name themselves before the comma, so those greps skip them.
    const std::string gemm_name(GemmModeName(gemm));
    std::printf("\nstage breakdown%s%s, B=%d T=%d (%s, no graph%s): %.3f ms per step\n",
                weights == WeightFormat::kBf16 ? " (bf16 weights)" : "",
                gemm == GemmMode::kFp32 ? "" : absl::StrCat(" (", gemm_name, ")").c_str(), batch,
                tokens, gemm_name.c_str(), cms_spans ? "" : ", slow levels token by token", total);
    if (gemm == GemmMode::k3xTf32) {
      std::printf("  (3xtf32: fp32 SGEMM below %d rows, W_hi products stacked up to %d rows)\n",
                  engine->options().min_3xtf32_rows, engine->options().max_3xtf32_stack_rows);
    }
    for (const auto& [ms, name] : stages) {
      std::printf("  %-16s %9.3f ms %5.1f%%\n", name.c_str(), ms, 100.0 * ms / total);
    }
  }
  for (float* p : states) cudaFree(p);
  return status;
}

// Fresh state, the bytes of kCheckText in one fp32 Forward: the last logits
// as one JSON line, for tools/peer_bench.py's parity check.
constexpr char kCheckText[] = "Hecate peer check.";

absl::Status PrintCheckLogits(std::shared_ptr<const Model> model) {
  CudaBackendOptions options;
  options.gemm = GemmMode::kFp32;
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, MakeCudaBackend(model, options));
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend->NewState());
  const std::string text = kCheckText;
  const std::vector<uint8_t> bytes(text.begin(), text.end());
  std::vector<float> logits;
  HECATE_RETURN_IF_ERROR(backend->Forward(*state, bytes, LogitsMode::kLast, &logits));
  std::string line = absl::StrFormat("check_logits {\"text\": \"%s\", \"logits\": [", text);
  for (size_t i = 0; i < logits.size(); ++i) {
    absl::StrAppendFormat(&line, "%s%.9g", i ? ", " : "", logits[i]);
  }
  std::printf("%s]}\n", line.c_str());
  return absl::OkStatus();
}

absl::Status Run(bool quick, const std::string& weights) {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const double gbps = bench_device.copy.best();

  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
                          LoadModel(weights.empty() ? "random:base" : weights, 7));
  const ModelConfig& config = model->config();
  if (!weights.empty()) HECATE_RETURN_IF_ERROR(PrintCheckLogits(model));
  const double weight_bytes = WeightBytes(model->weights(), WeightFormat::kFp32);
  const double bf16_weight_bytes = WeightBytes(model->weights(), WeightFormat::kBf16);
  const double state_bytes = StateLayout(config).total_bytes();
  std::printf("model: %s %s, weights %.1f MB (bf16 matrices: %.1f MB), state %.1f MB per "
              "session\n",
              weights.empty() ? "random:base" : weights.c_str(), config.Summary().c_str(),
              weight_bytes / 1e6, bf16_weight_bytes / 1e6, state_bytes / 1e6);
  // Bytes a decode step must touch per session (not the whole state twice):
  // level-1 M read and written; slow levels M read, G read and written, and
  // at a fire (1/p of steps) S read, S and M written; both rings read.
  const double mat = double(config.n_heads) * config.head_dim() * config.head_dim() * 4;
  const double ring = double(config.n_heads) * config.window * config.head_dim() * 4;
  double per_layer = 2 * ring;
  for (int p : config.periods) per_layer += p == 1 ? 2 * mat : 3 * mat + 3 * mat / p;
  const double min_state_bytes = per_layer * config.n_layers;
  std::vector<Row> rows;
  struct Mode {
    const char* tag;
    GemmMode gemm;
    WeightFormat weights;
  };
  for (const Mode& mode : {Mode{" fp32", GemmMode::kFp32, WeightFormat::kFp32},
                           Mode{" tf32", GemmMode::kTf32, WeightFormat::kFp32},
                           Mode{" 3xtf32", GemmMode::k3xTf32, WeightFormat::kFp32},
                           Mode{" bf16w", GemmMode::kFp32, WeightFormat::kBf16},
                           Mode{" bf16w+tf32", GemmMode::kTf32, WeightFormat::kBf16},
                           Mode{" bf16w+3xtf32", GemmMode::k3xTf32, WeightFormat::kBf16}}) {
    const double mode_weight_bytes =
        mode.weights == WeightFormat::kBf16 ? bf16_weight_bytes : weight_bytes;
    auto min_floor_ms = [&](int batch) {
      return (mode_weight_bytes + min_state_bytes * batch) / (gbps * 1e9) * 1e3;
    };
    auto floor_ms = [&](int batch) {
      return (mode_weight_bytes + 2.0 * state_bytes * batch) / (gbps * 1e9) * 1e3;
    };
    CudaBackendOptions options;
    options.gemm = mode.gemm;
    options.weights = mode.weights;
    options.max_step_tokens = 2048;
    options.max_batch = 256;
    HECATE_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, MakeCudaBackend(model, options));
    const std::string tag = mode.tag;
    std::vector<float> logits;

    // Decode B = 1.
    {
      HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend->NewState());
      HECATE_RETURN_IF_ERROR(backend->Upload(BenchState(config, 1, 12345), *state));
      const std::vector<uint8_t> tokens = RandomBytes(4096, 2);
      size_t next = 0;
      absl::StatusOr<double> s = TimeCalls(10, quick ? 30 : 100, [&] {
        return backend->Forward(*state, absl::MakeConstSpan(tokens).subspan(next++ % 4096, 1),
                                LogitsMode::kLast, &logits);
      });
      if (!s.ok()) return s.status();
      rows.push_back({"decode" + tag, 1, 1, *s * 1e3, floor_ms(1), min_floor_ms(1)});
    }
    // Prefill T = 2048, B = 1, from a random state.
    {
      HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend->NewState());
      const ModelState start = BenchState(config, 3, 0);
      const std::vector<uint8_t> tokens = RandomBytes(2048, 4);
      // Each repeat restarts from the same state; only Forward is timed.
      std::vector<double> seconds;
      for (int i = 0; i < (quick ? 4 : 6); ++i) {
        HECATE_RETURN_IF_ERROR(backend->Upload(start, *state));
        const auto t0 = Clock::now();
        HECATE_RETURN_IF_ERROR(backend->Forward(*state, tokens, LogitsMode::kLast, &logits));
        if (i > 0) seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
      rows.push_back({"prefill" + tag, 1, 2048, Median(seconds) * 1e3, 0, 0});
    }
    // Decode B = 256 (fp32-accurate GEMMs only, 3xtf32 included: the state
    // traffic dominates, not the GEMMs; bf16w adds widening each matrix
    // every step).
    if (mode.gemm != GemmMode::kTf32) {
      constexpr int kBatch = 256;
      std::vector<std::unique_ptr<BackendState>> states;
      const ModelState start = BenchState(config, 5, 0);
      ModelState staged = BenchState(config, 5, 0);
      for (int b = 0; b < kBatch; ++b) {
        HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend->NewState());
        staged.set_pulse_id(1000 + 37 * b);  // different fire and ring phases
        HECATE_RETURN_IF_ERROR(backend->Upload(staged, *state));
        states.push_back(std::move(state));
      }
      const std::vector<uint8_t> tokens = RandomBytes(kBatch * 64, 6);
      std::vector<std::vector<float>> outs(kBatch);
      int step = 0;
      absl::StatusOr<double> s = TimeCalls(3, quick ? 8 : 20, [&] {
        std::vector<ForwardItem> items(kBatch);
        for (int b = 0; b < kBatch; ++b) {
          items[b].state = states[b].get();
          items[b].tokens = absl::MakeConstSpan(tokens).subspan((step % 64) * kBatch + b, 1);
          items[b].mode = LogitsMode::kLast;
          items[b].logits = &outs[b];
        }
        ++step;
        return backend->ForwardBatch(absl::MakeSpan(items));
      });
      if (!s.ok()) return s.status();
      rows.push_back(
          {"decode" + tag, kBatch, 1, *s * 1e3, floor_ms(kBatch), min_floor_ms(kBatch)});
    }
  }

  std::printf("\n%-20s %5s %6s %10s %12s %10s %8s %10s %8s\n", "case", "B", "T", "ms/call",
              "tokens/s", "floor ms", "x floor", "min floor", "x min");
  for (const Row& r : rows) {
    const double tps = r.batch * r.tokens / (r.ms * 1e-3);
    if (r.floor_ms > 0) {
      std::printf("%-20s %5d %6d %10.3f %12.0f %10.3f %8.2f %10.3f %8.2f\n", r.name.c_str(),
                  r.batch, r.tokens, r.ms, tps, r.floor_ms, r.ms / r.floor_ms, r.min_floor_ms,
                  r.ms / r.min_floor_ms);
    } else {
      std::printf("%-20s %5d %6d %10.3f %12.0f %10s %8s %10s %8s\n", r.name.c_str(), r.batch,
                  r.tokens, r.ms, tps, "-", "-", "-", "-");
    }
  }
  std::printf("floor = (weights %.0f MB, bf16w rows %.0f MB, + B x 2 x state %.1f MB) / %.0f "
              "GB/s\n",
              weight_bytes / 1e6, bf16_weight_bytes / 1e6, state_bytes / 1e6, gbps);
  std::printf("min floor = (weights + B x %.1f MB touched: M of level 1 read+written, slow "
              "M read, G read+written, S/M fire traffic amortised, rings read) / bandwidth\n",
              min_state_bytes / 1e6);
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 2048));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 2048, /*cms_spans=*/false));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 1));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 256, 1));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 1, true, WeightFormat::kBf16));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 2048, true, WeightFormat::kBf16));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 2048, true, WeightFormat::kFp32, GemmMode::k3xTf32));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 1, 2048, true, WeightFormat::kFp32, GemmMode::kTf32));
  HECATE_RETURN_IF_ERROR(Breakdown(model, 256, 1, true, WeightFormat::kFp32, GemmMode::k3xTf32));
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main(int argc, char** argv) {
  bool quick = false;
  std::string weights;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strncmp(argv[i], "--weights=", 10) == 0) {
      weights = argv[i] + 10;
    } else {
      std::fprintf(stderr, "usage: cuda_backend_bench [--quick] [--weights=DIR]\n");
      return 2;
    }
  }
  return hecate::testing::BenchMain("cuda_backend_bench",
                                    [quick, weights] { return hecate::Run(quick, weights); });
}

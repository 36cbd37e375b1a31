// Benchmark: sliding-window attention prefill (swa_prefill.h) at the `base`
// config's sizes (H = 8, d = 128, W = 512), in forward_engine.cc's layout.
//
// Prefill-like calls of T = 2048 tokens at B = 1 and 4, from a fresh session
// (pulse 0: windows fill up over the first W tokens) and with full windows
// (pulse 100000: the first W - 1 queries also read the pre-chunk ring), with
// the tensor-core kernel the engine's layout selects (3xTF32, and in one
// TF32 pass as --gemm=tf32 runs it), the register-tiled FFMA kernel on the
// same layout and, for comparison, the general kernel (forced by an odd
// output stride); plus many short chunks (B = 64, T = 32). Events, median
// of repeats. Reported: µs per call, the FLOP rate over the useful work
// (q.k and p.v over each query's window: 4 d FLOPs per key) — the kernel is
// compute-bound at these sizes — and GB/s over the minimum bytes (q, k, v
// read, out written, the old ring's window read, the ring's new part
// written) with % of the copy bandwidth measured in the same run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/swa_prefill/swa_prefill.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model_config.h"

namespace hecate {
namespace {

struct Shape {
  int batch, tokens;
  uint64_t pulse;
  bool general;  // force the general kernel
};

// Keys attended over the chunk by one head of one session.
double KeysAttended(int window, int tokens, uint64_t pulse) {
  double keys = 0;
  for (int t = 0; t < tokens; ++t) keys += double(std::min<uint64_t>(window, pulse + t + 1));
  return keys;
}

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const testing::CopyBandwidth* copy = &bench_device.copy;
  HECATE_ASSIGN_OR_RETURN(ModelConfig base, ModelConfig::Preset("base"));
  const int heads = base.n_heads, dim = base.head_dim(), window = base.window;
  const int dm = base.d_model;
  const size_t ring = size_t(heads) * window * dim;
  std::mt19937_64 rng(20261123);

  const Shape shapes[] = {{1, 2048, 0, false},      {1, 2048, 100000, false},
                          {1, 2048, 100000, true},  {4, 2048, 100000, false},
                          {64, 32, 100000, false}};
  struct Row {
    Shape shape;
    const char* kernel;
    double us, gflops, gbps, pct;
  };
  std::vector<Row> rows;
  for (const Shape& s : shapes) {
    const size_t n = size_t(s.batch) * s.tokens * dm;
    const size_t out_stride = s.general ? dm + 1 : dm;
    auto qkv = DeviceBuffer<float>::Create(3 * n);
    auto out = DeviceBuffer<float>::Create(size_t(s.batch) * s.tokens * out_stride);
    auto pulse = DeviceBuffer<uint64_t>::Create(s.batch);
    for (auto* b : {&qkv, &out}) {
      if (!b->ok()) return b->status();
    }
    if (!pulse.ok()) return pulse.status();
    HECATE_ASSIGN_OR_RETURN(
        testing::SessionStates states,
        testing::MakeSessionStates(s.batch, 2 * ring, [&rng](DeviceBuffer<float>& buf) {
          return testing::FillDeviceNormal(buf, 1.0f, rng);
        }));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(*qkv, 1.0f, rng));
    HECATE_RETURN_IF_ERROR(pulse->CopyFromHost(std::vector<uint64_t>(s.batch, s.pulse)));

    SwaPrefillParams p;
    p.batch = s.batch;
    p.heads = heads;
    p.dim = dim;
    p.window = window;
    p.tokens = s.tokens;
    p.states = states.bases.data();
    p.k_offset = 0;
    p.v_offset = ring;
    p.pulse = pulse->data();
    p.q = qkv->data();
    p.k = p.q + n;
    p.v = p.k + n;
    p.qkv_stride = dm;
    p.out = out->data();
    p.out_stride = out_stride;
    p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim)));
    const double keys = KeysAttended(window, s.tokens, s.pulse) * s.batch * heads;
    const double old_positions = double(std::min<uint64_t>(window - 1, s.pulse));
    const double new_positions = double(std::min(window, s.tokens));
    const double bytes =
        (4.0 * n + 2.0 * s.batch * (old_positions + new_positions) * dm) * sizeof(float);
    const bool tiled = SwaPrefillTiledSupports(p);
    for (int variant = 0; variant < 3; ++variant) {  // 3xTF32 mma, TF32 mma, FFMA tiles
      const SwaPrefillKernel kernel =
          variant == 2 ? SwaPrefillKernel::kFfmaTiles : SwaPrefillKernel::kAuto;
      if (variant > 0 && !tiled) continue;
      p.kernel = kernel;
      p.tf32 = variant == 1;
      HECATE_ASSIGN_OR_RETURN(
          double us, testing::TimeEventsMicrosPerCall(
                         [&](cudaStream_t stream) { return SwaPrefill(p, stream); }, 1, 20));
      const double gbps = bytes / (us * 1e3);
      const char* names[] = {"mma", "mma_tf32", "ffma"};
      rows.push_back({s, !tiled ? "general" : names[variant],
                      us, 4.0 * dim * keys / (us * 1e3), gbps, 100.0 * gbps / copy->best()});
    }
  }

  std::printf("\nswa_prefill: base H=%d d=%d W=%d, fp32, events (median)\n", heads, dim,
              window);
  std::printf("%4s %6s %8s %9s %10s %10s %10s %9s\n", "B", "T", "pulse", "kernel", "us/call",
              "GFLOP/s", "GB/s", "%copy");
  for (const Row& r : rows) {
    std::printf("%4d %6d %8llu %9s %10.1f %10.0f %10.0f %8.1f%%\n", r.shape.batch,
                r.shape.tokens, static_cast<unsigned long long>(r.shape.pulse),
                r.kernel, r.us, r.gflops, r.gbps, r.pct);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("swa_prefill_bench", hecate::Run); }

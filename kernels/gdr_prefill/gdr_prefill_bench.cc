// Benchmark: level-1 gated delta rule prefill (gdr_prefill.h), base heads
// (H = 8, d = 128). Target in issue 6: B = 1, T = 8192 at >= 20 M tokens/s.
//
// Times the whole call and each phase (per-chunk pass, then the pass over
// chunks) with events, median of repeats.
// Floors printed alongside: bytes (q, k, v, gates read, y written, the
// workspace written and read back) over the copy bandwidth measured here.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/gdr_prefill/gdr_prefill.h"
#include "kernels/testing/bench_util.h"

namespace hecate {
namespace {

struct Shape {
  int batch, tokens;
};

absl::Status Run(const std::vector<Shape>& shapes) {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const testing::CopyBandwidth* copy = &bench_device.copy;

  const int heads = 8, dim = 128;
  std::mt19937_64 rng(20261123);
  struct Row {
    int batch, tokens;
    double chunk_us, scan_us, total_us, mtok, floor_us;
  };
  std::vector<Row> results;
  for (const Shape& s : shapes) {
    const size_t n = size_t(s.batch) * s.tokens * heads * dim;
    const size_t g = size_t(s.batch) * s.tokens * heads;
    auto q = DeviceBuffer<float>::Create(n), k = DeviceBuffer<float>::Create(n),
         v = DeviceBuffer<float>::Create(n), y = DeviceBuffer<float>::Create(n);
    auto alpha = DeviceBuffer<float>::Create(g), theta = DeviceBuffer<float>::Create(g);
    const size_t ws_floats = GdrPrefillWorkspaceFloats(s.batch, heads, dim, s.tokens);
    auto ws = DeviceBuffer<float>::Create(ws_floats);
    for (auto* b : {&q, &k, &v, &y, &alpha, &theta, &ws}) {
      if (!b->ok()) return b->status();
    }
    const float inv = 1.7f / 11.3137f;  // about unit-norm keys and queries
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*q, -inv, inv, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*k, -inv, inv, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*v, -1.f, 1.f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*alpha, 0.9f, 0.99f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*theta, 0.005f, 0.05f, rng));
    absl::StatusOr<testing::SessionStates> states = testing::MakeSessionStates(
        s.batch, size_t(heads) * dim * dim, [&rng](DeviceBuffer<float>& buf) {
          return testing::FillDeviceUniform(buf, -0.05f, 0.05f, rng);
        });
    if (!states.ok()) return states.status();

    GdrPrefillParams p;
    p.batch = s.batch;
    p.heads = heads;
    p.dim = dim;
    p.tokens = s.tokens;
    p.states = states->bases.data();
    p.q = q->data();
    p.k = k->data();
    p.v = v->data();
    p.qkv_stride = size_t(heads) * dim;
    p.alpha = alpha->data();
    p.theta = theta->data();
    p.gate_stride = heads;
    p.y = y->data();
    p.workspace = ws->data();
    p.workspace_floats = ws->size();
    const double tokens = double(s.batch) * s.tokens;
    const double bytes = (4.0 * n + 2.0 * g + 2.0 * ws_floats + 2.0 * s.batch * heads * dim * dim) * 4;
    auto whole = [&](cudaStream_t st) { return GdrPrefill(p, st); };
    auto chunk = [&](cudaStream_t st) {
      return CudaStatus(LaunchGdrPrefillChunkKernel(p, st), "chunk");
    };
    auto scan = [&](cudaStream_t st) {
      return CudaStatus(LaunchGdrPrefillScanKernel(p, st), "scan");
    };
    HECATE_ASSIGN_OR_RETURN(double total, testing::TimeEventsMicrosPerCall(whole, 1, 15));
    HECATE_ASSIGN_OR_RETURN(double chunk_us, testing::TimeEventsMicrosPerCall(chunk, 1, 15));
    HECATE_ASSIGN_OR_RETURN(double scan_us, testing::TimeEventsMicrosPerCall(scan, 1, 15));
    results.push_back({s.batch, s.tokens, chunk_us, scan_us, total, tokens / total,
                       bytes / (copy->best() * 1e3)});
  }
  std::printf("\ngdr_prefill: H=%d d=%d, fp32, chunk %d, events (median)\n", heads,
              dim, kGdrChunk);
  std::printf("%4s %6s %10s %10s %10s %12s %12s\n", "B", "T", "chunk us", "scan us",
              "total us", "M tokens/s", "bytes floor");
  for (const Row& r : results) {
    std::printf("%4d %6d %10.1f %10.1f %10.1f %12.2f %10.1fus\n", r.batch,
                r.tokens, r.chunk_us, r.scan_us, r.total_us, r.mtok,
                r.floor_us);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

// Usage: gdr_prefill_bench [batch tokens]   (default: the standard shapes)
int main(int argc, char** argv) {
  std::vector<hecate::Shape> shapes = {{1, 8192}, {1, 2048}, {4, 2048}, {16, 512}};
  if (argc == 3) {
    const int batch = std::atoi(argv[1]), tokens = std::atoi(argv[2]);
    if (batch < 1 || tokens < 1) {
      std::fprintf(stderr, "usage: gdr_prefill_bench [batch tokens]\n");
      return 2;
    }
    shapes = {{batch, tokens}};
  }
  return hecate::testing::BenchMain("gdr_prefill_bench",
                                    [&shapes] { return hecate::Run(shapes); });
}

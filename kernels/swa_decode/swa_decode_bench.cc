// Benchmark: sliding-window attention decode (swa_decode.h), base config
// (H = 8, d = 128, W = 512), full windows, B = 1 .. 1024 sessions.
//
// Timed like gdr_decode_bench: a CUDA graph of N calls rotating over N state
// sets that together exceed L2; µs per call, GB/s over the minimum bytes
// (both rings read once), and % of the copy bandwidth measured in this run.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/swa_decode/swa_decode.h"
#include "kernels/testing/bench_util.h"

namespace hecate {
namespace {

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const DeviceInfo* info = &bench_device.info;
  const testing::CopyBandwidth* copy = &bench_device.copy;

  const int heads = 8, dim = 128, window = 512;
  std::mt19937_64 rng(20261123);
  struct Row {
    int batch, sets, splits;
    double us, gbps, pct;
  };
  std::vector<Row> rows;
  for (int batch : {1, 16, 64, 256, 1024}) {
    const size_t ring = size_t(heads) * window * dim;
    const size_t per_session = 2 * ring;
    const int sets = testing::RotationSets(per_session * batch * sizeof(float),
                                           info->l2_cache_bytes, 64);
    std::vector<testing::SessionStates> states;
    for (int s = 0; s < sets; ++s) {
      HECATE_ASSIGN_OR_RETURN(
          testing::SessionStates st,
          testing::MakeSessionStates(batch, per_session, [&rng](DeviceBuffer<float>& buf) {
            return testing::FillDeviceNormal(buf, 1.0f, rng);
          }));
      states.push_back(std::move(st));
    }
    const size_t vec = size_t(batch) * heads * dim;
    auto q = DeviceBuffer<float>::Create(vec);
    auto k = DeviceBuffer<float>::Create(vec);
    auto v = DeviceBuffer<float>::Create(vec);
    auto out = DeviceBuffer<float>::Create(vec);
    auto pulse = DeviceBuffer<uint64_t>::Create(batch);
    for (auto* b : {&q, &k, &v, &out}) {
      if (!b->ok()) return b->status();
    }
    if (!pulse.ok()) return pulse.status();
    HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(*q, 1.0f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(*k, 1.0f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(*v, 1.0f, rng));
    std::vector<uint64_t> host_pulse(batch);
    for (int b = 0; b < batch; ++b) host_pulse[b] = 100000 + 7 * b;  // full windows
    HECATE_RETURN_IF_ERROR(pulse->CopyFromHost(host_pulse));

    SwaDecodeParams p;
    p.batch = batch;
    p.heads = heads;
    p.dim = dim;
    p.window = window;
    p.k_offset = 0;
    p.v_offset = ring;
    p.pulse = pulse->data();
    p.q = q->data();
    p.k = k->data();
    p.v = v->data();
    p.out = out->data();
    p.scale = 1.0f / std::sqrt(float(dim));
    // The pick, and at small batches the next smaller split beside it.
    const int picked = SwaDecodeSplits(batch, heads, window, info->multiprocessors);
    for (int splits : {picked, picked / 2}) {
      if (splits < 1 || (splits != picked && batch > 16)) continue;
      p.splits = splits;
      auto rotate = [&](cudaStream_t stream) -> absl::Status {
        for (int s = 0; s < sets; ++s) {
          SwaDecodeParams ps = p;
          ps.states = states[s].bases.data();
          HECATE_RETURN_IF_ERROR(SwaDecode(ps, stream));
        }
        return absl::OkStatus();
      };
      HECATE_ASSIGN_OR_RETURN(double us, testing::TimeGraphMicrosPerCall(rotate, sets, 30));
      const double gbps = SwaDecodeMinBytes(p) / (us * 1e3);
      rows.push_back({batch, sets, p.splits, us, gbps, 100.0 * gbps / copy->best()});
    }
  }
  std::printf("\nswa_decode: H=%d d=%d W=%d, full windows, graph replay\n", heads,
              dim, window);
  std::printf("%6s %5s %6s %12s %10s %9s\n", "B", "sets", "splits", "us/call",
              "GB/s", "%copy");
  for (const Row& r : rows) {
    std::printf("%6d %5d %6d %12.2f %10.0f %8.1f%%\n", r.batch, r.sets, r.splits,
                r.us, r.gbps, r.pct);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("swa_decode_bench", hecate::Run); }

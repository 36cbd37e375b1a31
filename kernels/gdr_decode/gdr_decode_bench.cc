// Benchmark: level-1 gated delta rule decode (gdr_decode.h), base config
// heads (H = 8, d = 128), B = 1 .. 1024 sessions.
//
// Each call is timed inside a CUDA graph of N back-to-back calls that rotate
// over N distinct state sets totalling several times L2, so the state comes
// from HBM as it would in serving. Reported: µs per call, achieved GB/s over
// the minimum bytes (state read + written once, plus vectors), and that as %
// of the device-to-device copy bandwidth measured in the same run. B = 1 is
// also timed as a graph of one call (launch overhead included).
#include <cstdio>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/gdr_decode/gdr_decode.h"
#include "kernels/testing/bench_util.h"

namespace hecate {
namespace {

template <typename T>
absl::StatusOr<DeviceBuffer<T>> Make(size_t n) {
  return DeviceBuffer<T>::Create(n);
}

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const DeviceInfo* info = &bench_device.info;
  const testing::CopyBandwidth* copy = &bench_device.copy;
  std::printf("%% copy below is against %.0f GB/s\n", copy->best());

  const int heads = 8, dim = 128;
  const int batches[] = {1, 16, 64, 256, 1024};
  std::mt19937_64 rng(20261123);
  struct Row {
    int batch, sets;
    double us, gbps, pct, single_us;
  };
  std::vector<Row> rows;
  for (int batch : batches) {
    const size_t per_session = size_t(heads) * dim * dim;
    const int sets = testing::RotationSets(per_session * batch * sizeof(float),
                                           info->l2_cache_bytes, 256);
    std::vector<testing::SessionStates> states;
    for (int s = 0; s < sets; ++s) {
      absl::StatusOr<testing::SessionStates> st = testing::MakeSessionStates(
          batch, per_session,
          [&rng](DeviceBuffer<float>& buf) {
            return testing::FillDeviceUniform(buf, -0.05f, 0.05f, rng);
          });
      if (!st.ok()) return st.status();
      states.push_back(*std::move(st));
    }
    const size_t vec = size_t(batch) * heads * dim;
    auto q = Make<float>(vec), k = Make<float>(vec), v = Make<float>(vec),
         y = Make<float>(vec);
    auto alpha = Make<float>(size_t(batch) * heads);
    auto theta = Make<float>(size_t(batch) * heads);
    for (auto* b : {&q, &k, &v, &y, &alpha, &theta}) {
      if (!b->ok()) return b->status();
    }
    const float inv = 1.0f / 11.3137f;  // roughly unit-norm rows
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*q, -inv * 1.7f, inv * 1.7f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*k, -inv * 1.7f, inv * 1.7f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*v, -1.0f, 1.0f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*alpha, 0.9f, 0.99f, rng));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(*theta, 0.005f, 0.05f, rng));

    GdrDecodeParams p;
    p.batch = batch;
    p.heads = heads;
    p.dim = dim;
    p.q = q->data();
    p.k = k->data();
    p.v = v->data();
    p.alpha = alpha->data();
    p.theta = theta->data();
    p.y = y->data();
    auto rotate = [&](cudaStream_t stream) -> absl::Status {
      for (int s = 0; s < sets; ++s) {
        GdrDecodeParams ps = p;
        ps.states = states[s].bases.data();
        HECATE_RETURN_IF_ERROR(GdrDecode(ps, stream));
      }
      return absl::OkStatus();
    };
    HECATE_ASSIGN_OR_RETURN(double us, testing::TimeGraphMicrosPerCall(rotate, sets, 30));
    auto single = [&](cudaStream_t stream) -> absl::Status {
      GdrDecodeParams ps = p;
      ps.states = states[0].bases.data();
      return GdrDecode(ps, stream);
    };
    HECATE_ASSIGN_OR_RETURN(double single_us, testing::TimeGraphMicrosPerCall(single, 1, 200));
    const double gbps = GdrDecodeMinBytes(p) / (us * 1e3);
    rows.push_back({batch, sets, us, gbps, 100.0 * gbps / copy->best(), single_us});
  }

  std::printf("\ngdr_decode: H=%d d=%d, fp32 state, graph replay\n", heads, dim);
  std::printf("%6s %5s %12s %10s %9s %16s\n", "B", "sets", "us/call", "GB/s",
              "%copy", "1-call graph us");
  for (const Row& r : rows) {
    std::printf("%6d %5d %12.2f %10.0f %8.1f%% %16.2f\n", r.batch, r.sets, r.us,
                r.gbps, r.pct, r.single_us);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("gdr_decode_bench", hecate::Run); }

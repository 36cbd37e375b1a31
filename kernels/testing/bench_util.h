// bench_util.h: timing and ceilings for kernel benchmarks (never for tests).
//
// Follows the measuring method the project uses: warm up first, time with
// device events, repeat and report the median; time many small launches as
// replays of a captured CUDA graph; measure the copy-bandwidth ceiling in the
// same run so "% of bandwidth" compares like with like.
#ifndef HECATE_KERNELS_TESTING_BENCH_UTIL_H_
#define HECATE_KERNELS_TESTING_BENCH_UTIL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <random>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"

namespace hecate {
namespace testing {

// Device-to-device copy bandwidth in GB/s (1e9 bytes/s), counting bytes read
// plus bytes written, on a buffer far larger than L2.
struct CopyBandwidth {
  double memcpy_gbps = 0;  // cudaMemcpyDeviceToDevice
  double kernel_gbps = 0;  // 16-byte-per-thread copy kernel
  double best() const { return memcpy_gbps > kernel_gbps ? memcpy_gbps : kernel_gbps; }
};
absl::StatusOr<CopyBandwidth> MeasureCopyBandwidth(size_t bytes = size_t(1) << 30,
                                                   int repeats = 20);

// What every benchmark prints first: the device, and the copy-bandwidth
// ceiling measured in the same run ("device: ..." and "copy bandwidth
// (read+write): memcpy N GB/s, kernel N GB/s" lines).
struct BenchDevice {
  DeviceInfo info;
  CopyBandwidth copy;
};
absl::StatusOr<BenchDevice> StartBenchmark();

// Enqueues work on the stream; `calls` says how many logical calls it makes.
using EnqueueFn = std::function<absl::Status(cudaStream_t)>;

// Captures `enqueue` once into a CUDA graph, warms up, then times `replays`
// replays with events. Returns the median microseconds per call
// (replay time / calls).
absl::StatusOr<double> TimeGraphMicrosPerCall(const EnqueueFn& enqueue,
                                              int calls, int replays = 50);

// Same without a graph: each repeat enqueues directly. For long kernels.
absl::StatusOr<double> TimeEventsMicrosPerCall(const EnqueueFn& enqueue,
                                               int calls, int repeats = 20);

// Fills a device buffer with values drawn uniformly from [lo, hi) (or from
// N(0, stddev)). One host block is drawn and repeated, so multi-GiB buffers
// fill quickly; the values are never all zeros.
absl::Status FillDeviceUniform(DeviceBuffer<float>& buf, float lo, float hi,
                               std::mt19937_64& rng);
absl::Status FillDeviceNormal(DeviceBuffer<float>& buf, float stddev,
                              std::mt19937_64& rng);

// `batch` sessions' state buffers of `floats_per_session` floats each, in
// one device allocation that `fill` fills, and the device table of their
// base pointers that kernels take as `states`.
struct SessionStates {
  DeviceBuffer<float> floats;
  DeviceBuffer<float*> bases;
};
absl::StatusOr<SessionStates> MakeSessionStates(
    int batch, size_t floats_per_session,
    const std::function<absl::Status(DeviceBuffer<float>&)>& fill);

// How many sets of `set_bytes` a timed loop should rotate through so that it
// reads device memory rather than L2: enough to cover 4x the L2 size,
// clamped to [2, max_sets].
int RotationSets(size_t set_bytes, size_t l2_cache_bytes, int max_sets);

// The main() of every kernel benchmark: prints "SKIPPED: no CUDA device" and
// exits 0 without a GPU; otherwise runs `run` and exits 1, naming `name`, if
// it fails.
int BenchMain(const char* name, const std::function<absl::Status()>& run);

}  // namespace testing
}  // namespace hecate

#endif  // HECATE_KERNELS_TESTING_BENCH_UTIL_H_

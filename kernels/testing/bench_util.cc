#include "kernels/testing/bench_util.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/copy_kernel.h"

namespace hecate {
namespace testing {
namespace {

// Event pair that is always destroyed.
class Events {
 public:
  Events() = default;
  ~Events() {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
  }
  absl::Status Init() {
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start_));
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop_));
    return absl::OkStatus();
  }
  cudaEvent_t start() const { return start_; }
  cudaEvent_t stop() const { return stop_; }
  absl::StatusOr<float> ElapsedMs() const {
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop_));
    float ms = 0;
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

absl::StatusOr<CopyBandwidth> MeasureCopyBandwidth(size_t bytes, int repeats) {
  bytes &= ~size_t(15);
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<char> src, DeviceBuffer<char>::Create(bytes));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<char> dst, DeviceBuffer<char>::Create(bytes));
  // Non-zero contents: never time on zeros.
  HECATE_RETURN_IF_ERROR(src.Fill(0x5A));
  HECATE_RETURN_IF_ERROR(dst.Fill(0x3C));

  CopyBandwidth result;
  char* s = src.data();
  char* d = dst.data();
  const EnqueueFn memcpy_d2d = [&](cudaStream_t stream) {
    return CudaStatus(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, stream),
                      "cudaMemcpyAsync D2D");
  };
  const EnqueueFn copy_kernel = [&](cudaStream_t stream) {
    return CudaStatus(LaunchCopyFloat4(s, d, bytes / 16, stream), "LaunchCopyFloat4");
  };
  HECATE_ASSIGN_OR_RETURN(double memcpy_us, TimeEventsMicrosPerCall(memcpy_d2d, 1, repeats));
  HECATE_ASSIGN_OR_RETURN(double kernel_us, TimeEventsMicrosPerCall(copy_kernel, 1, repeats));
  result.memcpy_gbps = 2.0 * bytes / (memcpy_us * 1e3);
  result.kernel_gbps = 2.0 * bytes / (kernel_us * 1e3);
  return result;
}

absl::StatusOr<double> TimeGraphMicrosPerCall(const EnqueueFn& enqueue,
                                              int calls, int replays) {
  cudaStream_t stream = nullptr;
  HECATE_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  auto cleanup = [&] {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
  };
  absl::Status status = [&]() -> absl::Status {
    // One eager run first: module load and lazy init stay out of the graph.
    HECATE_RETURN_IF_ERROR(enqueue(stream));
    HECATE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    HECATE_CUDA_RETURN_IF_ERROR(
        cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    absl::Status enqueued = enqueue(stream);
    cudaError_t end = cudaStreamEndCapture(stream, &graph);
    HECATE_RETURN_IF_ERROR(enqueued);
    HECATE_CUDA_RETURN_IF_ERROR(end);
    HECATE_CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 3; ++i) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, stream));
    }
    HECATE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    cleanup();
    return status;
  }
  Events events;
  std::vector<double> per_call;
  status = [&]() -> absl::Status {
    HECATE_RETURN_IF_ERROR(events.Init());
    for (int r = 0; r < replays; ++r) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(events.start(), stream));
      HECATE_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, stream));
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(events.stop(), stream));
      HECATE_ASSIGN_OR_RETURN(float ms, events.ElapsedMs());
      per_call.push_back(ms * 1e3 / calls);
    }
    return absl::OkStatus();
  }();
  cleanup();
  if (!status.ok()) return status;
  return Median(per_call);
}

absl::StatusOr<SessionStates> MakeSessionStates(
    int batch, size_t floats_per_session,
    const std::function<absl::Status(DeviceBuffer<float>&)>& fill) {
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> floats,
                          DeviceBuffer<float>::Create(size_t(batch) * floats_per_session));
  HECATE_RETURN_IF_ERROR(fill(floats));
  std::vector<float*> host(batch);
  for (int b = 0; b < batch; ++b) host[b] = floats.data() + size_t(b) * floats_per_session;
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float*> bases, DeviceBuffer<float*>::Create(batch));
  HECATE_RETURN_IF_ERROR(bases.CopyFromHost(host));
  return SessionStates{std::move(floats), std::move(bases)};
}

int RotationSets(size_t set_bytes, size_t l2_cache_bytes, int max_sets) {
  return static_cast<int>(std::clamp<size_t>(
      (4 * l2_cache_bytes + set_bytes - 1) / set_bytes, 2, size_t(max_sets)));
}

absl::StatusOr<double> TimeEventsMicrosPerCall(const EnqueueFn& enqueue,
                                               int calls, int repeats) {
  cudaStream_t stream = nullptr;
  HECATE_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Events events;
  std::vector<double> per_call;
  absl::Status status = [&]() -> absl::Status {
    HECATE_RETURN_IF_ERROR(events.Init());
    for (int i = 0; i < 2; ++i) HECATE_RETURN_IF_ERROR(enqueue(stream));
    HECATE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    for (int r = 0; r < repeats; ++r) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(events.start(), stream));
      HECATE_RETURN_IF_ERROR(enqueue(stream));
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(events.stop(), stream));
      HECATE_ASSIGN_OR_RETURN(float ms, events.ElapsedMs());
      per_call.push_back(ms * 1e3 / calls);
    }
    return absl::OkStatus();
  }();
  cudaStreamDestroy(stream);
  if (!status.ok()) return status;
  return Median(per_call);
}

namespace {

absl::Status FillDeviceFromDraws(DeviceBuffer<float>& buf,
                                 const std::function<float()>& draw) {
  std::vector<float> block(std::min<size_t>(buf.size(), size_t(1) << 22));
  for (float& x : block) x = draw();
  for (size_t at = 0; at < buf.size(); at += block.size()) {
    const size_t n = std::min(block.size(), buf.size() - at);
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemcpy(buf.data() + at, block.data(),
                                           n * sizeof(float),
                                           cudaMemcpyHostToDevice));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FillDeviceUniform(DeviceBuffer<float>& buf, float lo, float hi,
                               std::mt19937_64& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  return FillDeviceFromDraws(buf, [&] { return dist(rng); });
}

absl::Status FillDeviceNormal(DeviceBuffer<float>& buf, float stddev,
                              std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, stddev);
  return FillDeviceFromDraws(buf, [&] { return dist(rng); });
}

absl::StatusOr<BenchDevice> StartBenchmark() {
  HECATE_ASSIGN_OR_RETURN(DeviceInfo info, QueryDevice());
  std::printf("device: %s\n", DescribeDevice(info).c_str());
  HECATE_ASSIGN_OR_RETURN(CopyBandwidth copy, MeasureCopyBandwidth());
  std::printf("copy bandwidth (read+write): memcpy %.0f GB/s, kernel %.0f GB/s\n", copy.memcpy_gbps,
              copy.kernel_gbps);
  return BenchDevice{info, copy};
}

int BenchMain(const char* name, const std::function<absl::Status()>& run) {
  if (!CudaDeviceAvailable()) {
    std::printf("SKIPPED: no CUDA device\n");
    return 0;
  }
  const absl::Status status = run();
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace testing
}  // namespace hecate

#include "kernels/device.h"

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "kernels/cuda_check.h"

namespace hecate {

bool CudaDeviceAvailable() {
  static const bool available = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count <= 0) {
      cudaGetLastError();  // clear the sticky-free error so later calls see none
      return false;
    }
    if (cudaSetDevice(0) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return true;
  }();
  return available;
}

absl::StatusOr<DeviceInfo> QueryDevice() {
  if (!CudaDeviceAvailable()) {
    return absl::FailedPreconditionError("no CUDA device");
  }
  cudaDeviceProp prop;
  HECATE_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, 0));
  DeviceInfo info;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.global_memory_bytes = prop.totalGlobalMem;
  info.l2_cache_bytes = static_cast<size_t>(prop.l2CacheSize);
  info.shared_memory_per_block_optin = prop.sharedMemPerBlockOptin;
  HECATE_CUDA_RETURN_IF_ERROR(cudaDriverGetVersion(&info.driver_version));
  HECATE_CUDA_RETURN_IF_ERROR(cudaRuntimeGetVersion(&info.runtime_version));
  return info;
}

std::string DescribeDevice(const DeviceInfo& info) {
  return absl::StrFormat(
      "%s, sm_%d%d, %d SMs, %.1f GiB, L2 %.0f MiB, driver %d, runtime %d",
      info.name, info.compute_major, info.compute_minor, info.multiprocessors,
      info.global_memory_bytes / 1073741824.0, info.l2_cache_bytes / 1048576.0,
      info.driver_version, info.runtime_version);
}

}  // namespace hecate

// device.h: is there a usable CUDA device, and what is it.
//
// CI machines have no GPU (and often no driver); every CUDA test calls
// CudaDeviceAvailable() first and skips cleanly when it is false. Never
// aborts: a missing driver is just "no device".
#ifndef HECATE_KERNELS_DEVICE_H_
#define HECATE_KERNELS_DEVICE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace hecate {

// True when the CUDA runtime reports at least one device and device 0 can be
// selected. The answer is computed once and cached.
bool CudaDeviceAvailable();

struct DeviceInfo {
  std::string name;           // e.g. "NVIDIA H100 80GB HBM3"
  int compute_major = 0;      // 9 for Hopper
  int compute_minor = 0;
  int multiprocessors = 0;
  size_t global_memory_bytes = 0;
  size_t l2_cache_bytes = 0;
  size_t shared_memory_per_block_optin = 0;  // after cudaFuncSetAttribute
  int driver_version = 0;     // e.g. 13000
  int runtime_version = 0;
};

// Properties of device 0; FAILED_PRECONDITION when there is none.
absl::StatusOr<DeviceInfo> QueryDevice();

// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB, L2 50 MiB, driver 13000".
std::string DescribeDevice(const DeviceInfo& info);

}  // namespace hecate

#endif  // HECATE_KERNELS_DEVICE_H_

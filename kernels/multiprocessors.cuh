// multiprocessors.cuh: the current device's multiprocessor count, for the
// launchers (.cu files) that size a grid or choose a kernel by it.
#ifndef HECATE_KERNELS_MULTIPROCESSORS_CUH_
#define HECATE_KERNELS_MULTIPROCESSORS_CUH_

#include <cuda_runtime_api.h>

namespace hecate {

inline cudaError_t CurrentMultiprocessors(int* sms) {
  int device = 0;
  const cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  return cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, device);
}

}  // namespace hecate

#endif  // HECATE_KERNELS_MULTIPROCESSORS_CUH_

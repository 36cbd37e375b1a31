// copy_kernel.h: a plain 16-byte-per-thread device copy, the reference for
// "achieved bandwidth as % of copy bandwidth" in kernel benchmarks.
#ifndef HECATE_KERNELS_TESTING_COPY_KERNEL_H_
#define HECATE_KERNELS_TESTING_COPY_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>

namespace hecate {
namespace testing {

// Copies `count4` float4s from src to dst (both 16-byte aligned), grid-stride.
cudaError_t LaunchCopyFloat4(const void* src, void* dst, size_t count4,
                             cudaStream_t stream);

}  // namespace testing
}  // namespace hecate

#endif  // HECATE_KERNELS_TESTING_COPY_KERNEL_H_

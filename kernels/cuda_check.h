// cuda_check.h: CUDA runtime and cuBLAS error codes as absl::Status.
//
// Every CUDA call in kernels/ goes through these, so an error names the call
// that failed and the library's own message, and nothing is silently dropped:
//
//   HECATE_CUDA_RETURN_IF_ERROR(cudaMemcpy(dst, src, n, cudaMemcpyDefault));
//   HECATE_CUBLAS_RETURN_IF_ERROR(cublasSgemm(...));
//   HECATE_CUDA_RETURN_IF_ERROR(cudaGetLastError());  // after a launch
//
// Header-only; cuBLAS codes are named here (not via cublasGetStatusString) so
// that code which never calls cuBLAS need not link it.
#ifndef HECATE_KERNELS_CUDA_CHECK_H_
#define HECATE_KERNELS_CUDA_CHECK_H_

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"  // HECATE_RETURN_IF_ERROR, for code that includes this header

namespace hecate {

// OK for cudaSuccess; otherwise INTERNAL naming `what` and the CUDA error
// (RESOURCE_EXHAUSTED for out-of-memory, so callers can tell it apart).
inline absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", cudaGetErrorName(err), " (",
                                     cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

inline const char* CublasStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

inline absl::Status CublasStatus(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", CublasStatusName(status));
  if (status == CUBLAS_STATUS_ALLOC_FAILED) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

}  // namespace hecate

#define HECATE_CUDA_RETURN_IF_ERROR(expr)                              \
  do {                                                                 \
    ::absl::Status hecate_cuda_status_ = ::hecate::CudaStatus((expr), #expr); \
    if (!hecate_cuda_status_.ok()) return hecate_cuda_status_;         \
  } while (0)

#define HECATE_CUBLAS_RETURN_IF_ERROR(expr)                                \
  do {                                                                     \
    ::absl::Status hecate_cublas_status_ =                                 \
        ::hecate::CublasStatus((expr), #expr);                             \
    if (!hecate_cublas_status_.ok()) return hecate_cublas_status_;         \
  } while (0)

#endif  // HECATE_KERNELS_CUDA_CHECK_H_

#include "backends/cuda/state_memory.h"

#include <cstdint>

#include "kernels/cuda_check.h"

namespace hecate {

absl::StatusOr<std::shared_ptr<StateMemory>> StateMemory::Create(int device) {
  HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  int pools = 0;
  HECATE_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device));
  cudaMemPool_t pool = nullptr;
  if (pools != 0) {
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemPoolCreate(&pool, &props));
  }
  cudaStream_t stream = nullptr;
  if (cudaError_t made = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
      made != cudaSuccess) {
    if (pool != nullptr) cudaMemPoolDestroy(pool);
    return CudaStatus(made, "cudaStreamCreateWithFlags (state memory)");
  }
  return std::shared_ptr<StateMemory>(new StateMemory(device, pool, stream));
}

StateMemory::~StateMemory() {
  cudaSetDevice(device_);
  // Pending frees on stream_ complete first; a pool with memory still out
  // is released once the last of it comes back.
  cudaStreamDestroy(stream_);
  if (pool_ != nullptr) cudaMemPoolDestroy(pool_);
}

absl::StatusOr<void*> StateMemory::AllocateZeroed(size_t bytes) {
  HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  void* data = nullptr;
  if (pool_ != nullptr) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaMallocFromPoolAsync(&data, bytes, pool_, stream_));
  } else {
    HECATE_CUDA_RETURN_IF_ERROR(cudaMalloc(&data, bytes));
  }
  const cudaError_t zeroed = cudaMemsetAsync(data, 0, bytes, stream_);
  const cudaError_t synced = zeroed == cudaSuccess ? cudaStreamSynchronize(stream_) : zeroed;
  if (synced != cudaSuccess) {
    Free(data);
    return CudaStatus(synced, "zeroing a new state");
  }
  return data;
}

absl::Status StateMemory::Retain(size_t bytes) {
  if (pool_ == nullptr) return absl::OkStatus();
  HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  uint64_t keep = bytes;
  HECATE_CUDA_RETURN_IF_ERROR(
      cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep));
  return absl::OkStatus();
}

void StateMemory::Free(void* data) {
  if (data == nullptr) return;
  if (pool_ == nullptr) {
    cudaSetDevice(device_);
    cudaFree(data);
    return;
  }
  absl::MutexLock lock(&mu_);
  if (!detached_) {
    freed_.push_back(data);
    return;
  }
  cudaSetDevice(device_);
  if (cudaFreeAsync(data, stream_) != cudaSuccess) cudaGetLastError();  // nothing to report to
}

void StateMemory::ReleaseFreed(cudaStream_t engine) {
  absl::MutexLock lock(&mu_);
  if (freed_.empty()) return;
  cudaSetDevice(device_);
  // Memory freed on a stream is handed out again only to work ordered after
  // the free: behind the engine's queue, no step can still be using it.
  for (void* data : freed_) {
    if (cudaFreeAsync(data, engine) != cudaSuccess) cudaGetLastError();
  }
  freed_.clear();
}

void StateMemory::Detach() {
  absl::MutexLock lock(&mu_);
  detached_ = true;
  cudaSetDevice(device_);
  for (void* data : freed_) {
    if (cudaFreeAsync(data, stream_) != cudaSuccess) cudaGetLastError();
  }
  freed_.clear();
}

}  // namespace hecate

// device_buffer.h: an owned, typed allocation in device memory.
//
// Plain cudaMalloc (never managed memory). Move-only; freed on destruction.
// Copies are explicit and synchronous unless a stream is given:
//
//   absl::StatusOr<DeviceBuffer<float>> buf = DeviceBuffer<float>::Create(n);
//   HECATE_RETURN_IF_ERROR(buf->CopyFromHost(host_span));
//   kernel<<<...>>>(buf->data());
//   HECATE_RETURN_IF_ERROR(buf->CopyToHost(absl::MakeSpan(out)));
#ifndef HECATE_KERNELS_DEVICE_BUFFER_H_
#define HECATE_KERNELS_DEVICE_BUFFER_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "kernels/cuda_check.h"

namespace hecate {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      Reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // `count` elements (uninitialised). count == 0 gives an empty buffer.
  static absl::StatusOr<DeviceBuffer> Create(size_t count) {
    DeviceBuffer buffer;
    if (count == 0) return buffer;
    void* ptr = nullptr;
    HECATE_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr, count * sizeof(T)));
    buffer.data_ = static_cast<T*>(ptr);
    buffer.size_ = count;
    return buffer;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

  absl::Status CopyFromHost(absl::Span<const T> host) {
    HECATE_RETURN_IF_ERROR(CheckSize(host.size()));
    return CudaStatus(cudaMemcpy(data_, host.data(), bytes(),
                                 cudaMemcpyHostToDevice),
                      "DeviceBuffer::CopyFromHost");
  }
  absl::Status CopyToHost(absl::Span<T> host) const {
    HECATE_RETURN_IF_ERROR(CheckSize(host.size()));
    return CudaStatus(cudaMemcpy(host.data(), data_, bytes(),
                                 cudaMemcpyDeviceToHost),
                      "DeviceBuffer::CopyToHost");
  }
  // Sets every byte to `byte` (0xFF gives NaN for float: used to poison).
  absl::Status Fill(int byte) {
    return CudaStatus(cudaMemset(data_, byte, bytes()), "DeviceBuffer::Fill");
  }

 private:
  absl::Status CheckSize(size_t host_count) const {
    if (host_count != size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("DeviceBuffer copy: host has ", host_count,
                       " elements, device buffer has ", size_));
    }
    return absl::OkStatus();
  }
  void Reset() {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hecate

#endif  // HECATE_KERNELS_DEVICE_BUFFER_H_

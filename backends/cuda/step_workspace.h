// StepWorkspace: the device scratch of one CUDA backend for a forward step
// of up to `max_rows` rows (sessions x tokens), and the per-call table
// (state pointers, pulse ids, token bytes) the kernels read, staged through
// pinned host memory so one asynchronous copy uploads it.
//
// Sized once at backend creation; a step never allocates.
#ifndef HECATE_BACKENDS_CUDA_STEP_WORKSPACE_H_
#define HECATE_BACKENDS_CUDA_STEP_WORKSPACE_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/device_buffer.h"
#include "runtime/model_config.h"

namespace hecate {

// Page-locked host memory (cudaMallocHost), freed on destruction.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  static absl::StatusOr<PinnedBuffer> Create(size_t bytes);
  char* data() { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  char* data_ = nullptr;
  size_t bytes_ = 0;
};

class StepWorkspace {
 public:
  // The level-1 prefill scratch holds the chunks of up to
  // `max_prefill_batch` sessions whose tokens total at most `max_rows`.
  // `tf32_split_cols` > 0 (the 3xtf32 GEMM mode) adds tf32_split for a GEMM
  // input of up to that many columns, and `tf32_product_floats` > 0 the
  // stacked products' tf32_products.
  static absl::StatusOr<StepWorkspace> Create(const ModelConfig& config, int proj_cols,
                                              int max_rows, int max_batch,
                                              int max_prefill_batch, int tf32_split_cols = 0,
                                              size_t tf32_product_floats = 0);

  int max_rows() const { return max_rows_; }
  int max_batch() const { return max_batch_; }
  // Floats between planes of `act` and `ys`: max_rows * D.
  size_t plane() const { return plane_; }

  float* x = nullptr;        // [rows, D] hidden state
  float* u = nullptr;        // [rows, D] normed input
  float* proj = nullptr;     // [rows, proj_cols] fused projection
  float* act = nullptr;      // 6 planes: qa, ka, va, mq, mk, mv
  float* gates = nullptr;    // [rows, 3 * levels * H] activated
  float* alpha1 = nullptr;   // [rows, H]
  float* theta1 = nullptr;   // [rows, H]
  float* attn = nullptr;     // [rows, D] attention output, then MAG-gated
  float* ys = nullptr;       // levels planes of [rows, D]: memory reads
  float* h13 = nullptr;      // [rows, 2F]
  float* normed = nullptr;   // [rows, D] final norm of the logit rows
  float* logits = nullptr;   // [rows, V]
  float* gdr = nullptr;      // level-1 prefill scratch
  size_t gdr_floats = 0;
  // 3xtf32 (null otherwise): a GEMM input's TF32 split, packed [2 * rows, k]:
  // the hi rows, then the lo rows, so one GEMM multiplies both by W_hi.
  float* tf32_split = nullptr;
  // 3xtf32: that GEMM's [2 * rows, n] products for steps of up to the
  // engine's stacking limit (forward_engine.h).
  float* tf32_products = nullptr;
  // Bytes of the whole device scratch.
  size_t scratch_bytes() const { return scratch_.bytes(); }

  // The call table: device views and their pinned host mirror.
  float** device_states = nullptr;  // [max_batch]
  uint64_t* device_pulse = nullptr; // [max_batch]
  uint8_t* device_tokens = nullptr; // [max_rows]
  float** host_states = nullptr;
  uint64_t* host_pulse = nullptr;
  uint8_t* host_tokens = nullptr;

  // Fills the whole scratch with NaN (tests: proves every read was written).
  absl::Status Poison(cudaStream_t stream);

  // Copies the host table (first `rows` tokens) to the device on `stream`.
  // The host mirror must not change until the stream has passed this point.
  absl::Status UploadTable(int rows, cudaStream_t stream);

 private:
  int max_rows_ = 0;
  int max_batch_ = 0;
  size_t plane_ = 0;
  DeviceBuffer<float> scratch_;
  DeviceBuffer<char> table_;
  PinnedBuffer host_table_;
};

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_STEP_WORKSPACE_H_

#include "backends/cuda/step_workspace.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"

namespace hecate {

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

absl::StatusOr<PinnedBuffer> PinnedBuffer::Create(size_t bytes) {
  PinnedBuffer buffer;
  void* ptr = nullptr;
  HECATE_CUDA_RETURN_IF_ERROR(cudaMallocHost(&ptr, bytes));
  buffer.data_ = static_cast<char*>(ptr);
  buffer.bytes_ = bytes;
  return buffer;
}

namespace {

constexpr size_t kAlignFloats = 64;  // 256 bytes

size_t AlignUp(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

size_t TableBytes(int max_batch, int max_rows) {
  return 2 * sizeof(uint64_t) * size_t(max_batch) + size_t(max_rows);
}

}  // namespace

absl::StatusOr<StepWorkspace> StepWorkspace::Create(const ModelConfig& c, int proj_cols,
                                                    int max_rows, int max_batch,
                                                    int max_prefill_batch,
                                                    int tf32_split_cols,
                                                    size_t tf32_product_floats) {
  StepWorkspace ws;
  ws.max_rows_ = max_rows;
  ws.max_batch_ = max_batch;
  const size_t rows = size_t(max_rows), dm = c.d_model;
  ws.plane_ = AlignUp(rows * dm);
  // Every session's last chunk may be partial: one more chunk per session.
  ws.gdr_floats = GdrPrefillWorkspaceFloats(1, c.n_heads, c.head_dim(),
                                            max_rows + kGdrChunk * std::max(max_prefill_batch, 1));

  // Carve every buffer from one allocation, each 256-byte aligned.
  std::vector<std::pair<float**, size_t>> parts = {
      {&ws.x, rows * dm},
      {&ws.u, rows * dm},
      {&ws.proj, rows * proj_cols},
      {&ws.act, 6 * ws.plane_},
      {&ws.gates, rows * 3 * c.levels() * c.n_heads},
      {&ws.alpha1, rows * c.n_heads},
      {&ws.theta1, rows * c.n_heads},
      {&ws.attn, rows * dm},
      {&ws.ys, size_t(c.levels()) * ws.plane_},
      {&ws.h13, rows * 2 * c.d_ff},
      {&ws.normed, rows * dm},
      {&ws.logits, rows * c.vocab_size},
      {&ws.gdr, ws.gdr_floats},
  };
  if (tf32_split_cols > 0) parts.push_back({&ws.tf32_split, 2 * rows * tf32_split_cols});
  if (tf32_product_floats > 0) parts.push_back({&ws.tf32_products, tf32_product_floats});
  std::vector<size_t> offsets;
  size_t total = 0;
  for (auto& part : parts) {
    offsets.push_back(total);
    total += AlignUp(part.second);
  }
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> scratch, DeviceBuffer<float>::Create(total));
  ws.scratch_ = std::move(scratch);
  for (size_t i = 0; i < parts.size(); ++i) *parts[i].first = ws.scratch_.data() + offsets[i];

  const size_t table_bytes = TableBytes(max_batch, max_rows);
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<char> table, DeviceBuffer<char>::Create(table_bytes));
  ws.table_ = std::move(table);
  HECATE_ASSIGN_OR_RETURN(PinnedBuffer host, PinnedBuffer::Create(table_bytes));
  ws.host_table_ = std::move(host);

  char* device = ws.table_.data();
  char* pinned = ws.host_table_.data();
  const size_t pulse_at = sizeof(float*) * size_t(max_batch);
  const size_t tokens_at = pulse_at + sizeof(uint64_t) * size_t(max_batch);
  ws.device_states = reinterpret_cast<float**>(device);
  ws.device_pulse = reinterpret_cast<uint64_t*>(device + pulse_at);
  ws.device_tokens = reinterpret_cast<uint8_t*>(device + tokens_at);
  ws.host_states = reinterpret_cast<float**>(pinned);
  ws.host_pulse = reinterpret_cast<uint64_t*>(pinned + pulse_at);
  ws.host_tokens = reinterpret_cast<uint8_t*>(pinned + tokens_at);
  return ws;
}

absl::Status StepWorkspace::Poison(cudaStream_t stream) {
  return CudaStatus(cudaMemsetAsync(scratch_.data(), 0xFF, scratch_.bytes(), stream),
                    "StepWorkspace::Poison");
}

absl::Status StepWorkspace::UploadTable(int rows, cudaStream_t stream) {
  const size_t bytes = 2 * sizeof(uint64_t) * size_t(max_batch_) + size_t(rows);
  return CudaStatus(
      cudaMemcpyAsync(table_.data(), host_table_.data(), bytes, cudaMemcpyHostToDevice, stream),
      "StepWorkspace::UploadTable");
}

}  // namespace hecate

// The CUDA backend: docs/MODEL.md computed on one GPU, proven equal to the
// CPU reference (backends/cpu/cpu_backend.h) by backends/cuda/
// cuda_backend_test.cc.
//
// Weights are uploaded once. Each session's state lives in one device
// allocation in the StateLayout order, followed by the rings of the slow
// levels' error buffers that decode steps append to (state_ring.h), so
// Upload and Download are single copies of the canonical bytes (the pulse
// id is kept on the host): Download first folds the rings into G on the
// device, Upload empties them, Copy copies the whole allocation. Forward splits a chunk
// into steps of at most `max_step_tokens` tokens and observes `cancel`
// between steps; ForwardBatch advances all one-token items together as one
// batched decode step (one GEMM per projection for all sessions) and items
// of equal length together too (several sessions' prefill slices in one
// step: the sequential parts of a chunk, attention, the delta rule and the
// slow levels, run side by side); only items longer than max_step_tokens
// go alone. Calls are serialised on the backend's stream, except
// Upload and Download, which run on a stream of their own beside a step in
// flight (a state is its owner's alone, and every call has finished on the
// device before it returns).
//
//   absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend(model);
//   auto state = (*cuda)->NewState();
//   (*cuda)->Forward(**state, tokens, LogitsMode::kLast, &logits);
//
// On a CUDA error mid-Forward the state's contents are undefined (callers
// that need atomicity snapshot with Download first, as for cancellation).
#ifndef HECATE_BACKENDS_CUDA_CUDA_BACKEND_H_
#define HECATE_BACKENDS_CUDA_CUDA_BACKEND_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/model.h"

namespace hecate {

// True when there is a CUDA device this backend can run on (hecated's
// --backend=auto asks this; callers need not know about kernels/).
bool CudaBackendAvailable();

// Free and total bytes of CUDA device `device` now (cudaMemGetInfo). After
// MakeCudaBackend (weights and step workspace are allocated at creation) the
// free part is what session states can use: hecated's default
// --device_memory_budget (server/memory_budget.h). FAILED_PRECONDITION
// without a device.
struct CudaMemoryInfo {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
absl::StatusOr<CudaMemoryInfo> CudaDeviceMemory(int device = 0);
absl::StatusOr<size_t> CudaFreeDeviceBytes(int device = 0);

struct CudaBackendOptions {
  // The many-row projections' GEMMs (runtime/backend.h; reported by
  // Backend::gemm_mode()): fp32, tf32 (looser tolerance; Backend::tf32()) or
  // 3xtf32 (tensor cores at fp32-level accuracy; keeps a TF32 hi/lo copy of
  // the fp32 matrices beside them: twice their bytes more).
  GemmMode gemm = GemmMode::kFp32;
  // 3xtf32's limits (ForwardEngineOptions, forward_engine.h; the
  // HECATE_3XTF32_* environment overrides them): steps of fewer rows run
  // fp32 SGEMM, steps of at most max_3xtf32_stack_rows stack the W_hi products.
  int min_3xtf32_rows = 128;
  int max_3xtf32_stack_rows = 1024;
  // The layers' matrices stored as bf16 (half their bytes; looser
  // tolerance; reported by Backend::weight_format()): forward_engine.h.
  // Combines with every gemm mode.
  WeightFormat weights = WeightFormat::kFp32;
  int device = 0;
  // Tokens per internal step of one session: sizes the device scratch and
  // is the granularity at which cancellation is observed.
  int max_step_tokens = 2048;
  // Sessions per batched decode step.
  int max_batch = 256;
  // ForwardBatch groups items of equal length (prefill slices of several
  // sessions) into one step of at most this many sessions and
  // max(max_step_rows, max_step_tokens) tokens in all. Sizes the device
  // scratch: about 60 KB a row for the base config.
  int max_prefill_batch = 16;
  int max_step_rows = 8192;
  // Tests: fill the device scratch with NaN before every step, so a stage
  // that reads something no stage wrote shows up as NaN in the results.
  bool poison_scratch = false;
  // Replay decode steps (one token per session) from captured CUDA graphs.
  bool decode_graphs = true;
  // Decode steps append to rings instead of updating the slow levels'
  // error buffers (state_ring.h; off with HECATE_DECODE_DENSE_G=1 too).
  bool decode_ring = true;
  // Upload and Download move a state in slices of this many bytes through
  // two pinned stages (tests set it small to cross many slice edges).
  size_t transfer_slice_bytes = size_t{8} << 20;
};

// Lets `backend` (a CUDA backend) keep up to `bytes` of deleted sessions'
// state memory for the next states instead of handing it back to the driver
// (state_memory.h; 0, the default, keeps none). hecated keeps its device
// memory budget: the pool then never grows past the states it holds, and
// everything else is left the budget's margin. INVALID_ARGUMENT for another
// backend.
absl::Status RetainCudaStateMemory(Backend& backend, size_t bytes);

// FAILED_PRECONDITION without a usable device; UNIMPLEMENTED for configs
// the kernels do not cover (head width must be a multiple of 8, at most
// 128); INVALID_ARGUMENT for bad options.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(std::shared_ptr<const Model> model,
                                                         CudaBackendOptions options = {});

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_CUDA_BACKEND_H_

// StateMemory: device memory for session states, taken from and given back
// to a stream-ordered pool (cudaMallocFromPoolAsync / cudaFreeAsync) that
// keeps what deleted sessions gave back (up to Retain's bytes) for the next
// state.
//
// Why not cudaMalloc / cudaFree: both synchronise the whole device, so
// creating or deleting one session stalled every session's step in flight
// (on the H200 a DeleteSession took 18-66 ms on average under a bench's
// churn; 0.5 ms from this pool). Here neither
// waits for the engine: a state is zeroed on a stream of its own, and a
// free is queued behind the work already on the engine's stream (the last
// step that may still touch the state) by the engine itself, between steps,
// so the caller never blocks on it. Queuing the free from the deleting
// thread directly could land inside a decode graph's capture on that stream
// (and be replayed with the graph).
//
// Thread-safe. States may outlive the backend that made them (the pool and
// its stream live as long as any state holds this).
#ifndef HECATE_BACKENDS_CUDA_STATE_MEMORY_H_
#define HECATE_BACKENDS_CUDA_STATE_MEMORY_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace hecate {

class StateMemory {
 public:
  // Devices without memory pools get cudaMalloc / cudaFree.
  static absl::StatusOr<std::shared_ptr<StateMemory>> Create(int device);
  ~StateMemory();
  StateMemory(const StateMemory&) = delete;
  StateMemory& operator=(const StateMemory&) = delete;

  // `bytes` of zeros, ready for use on any stream when this returns.
  absl::StatusOr<void*> AllocateZeroed(size_t bytes);
  // Gives `data` back: held until the engine's next ReleaseFreed, or at
  // once after Detach.
  void Free(void* data);
  // Queues the frees since the last call on `engine` (the stream whose work
  // may still use a state). Call with no capture running on `engine`.
  void ReleaseFreed(cudaStream_t engine);
  // The engine is going away, its work finished: frees from now on go to
  // the pool at once.
  void Detach();

  // Freed memory up to `bytes` stays in the pool for the next states; past
  // it, the pool hands memory back to the driver at synchronisations (0
  // at creation: kept memory cannot serve other allocations, such as a
  // kernel's local memory, and a process without a budget for it ran out).
  absl::Status Retain(size_t bytes);

  bool pooled() const { return pool_ != nullptr; }

 private:
  StateMemory(int device, cudaMemPool_t pool, cudaStream_t stream)
      : device_(device), pool_(pool), stream_(stream) {}

  const int device_;
  const cudaMemPool_t pool_;  // null: no memory pools on this device
  const cudaStream_t stream_;  // zeroing new states; frees once detached
  absl::Mutex mu_;
  std::vector<void*> freed_ ABSL_GUARDED_BY(mu_);
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_STATE_MEMORY_H_

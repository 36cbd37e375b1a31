// StateRing: where a CUDA session state keeps the compact error buffer of
// docs/MODEL.md section 3 (CmsRingParams, kernels/cms_slow/
// cms_slow_kernel.h), and the two operations every reader and writer of the
// canonical state needs.
//
// A device state is the canonical StateLayout buffer followed by a tail:
// the ring origin (uint64, the first pulse the rings may hold) and, per
// layer, the keys [H, R, d] of the last R pulses and each slow level's
// errors [H, R, d]. Decode steps append to the rings instead of updating G;
// so the canonical G is the dense G plus the rings until Fold adds them in.
// Hence: Download, export and checkpoints Fold first; Upload (a new dense
// G) and prefill (which works on the dense G) Reset or Fold; a device copy
// of the whole allocation (fork, rollback snapshots) carries the tail.
//
//   StateRing ring(config, StateRing::Slots());
//   cudaMalloc(&state, ring.state_bytes());
//   ... Upload the canonical bytes, then ring.Reset(state, pulse, stream)
//   ... decode steps ...
//   ring.Fold(state, pulse, stream), then download the canonical bytes.
//
// With slots 0 (HECATE_DECODE_DENSE_G=1 in the environment, or a model
// without slow levels) there is no tail and both operations do nothing.
// Thread-safe: const, and touches only the state it is given.
#ifndef HECATE_BACKENDS_CUDA_STATE_RING_H_
#define HECATE_BACKENDS_CUDA_STATE_RING_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cms_slow/cms_slow_kernel.h"
#include "runtime/model_config.h"

namespace hecate {

class StateRing {
 public:
  // Entries per ring: 16 costs a decode step 1/8 of a G read and write per
  // slow level (the full-ring fold, every 16 tokens; periods <= 16 never
  // fold before they fire), and each state 16 x 2 d floats per head per
  // slow level (3.1 MB, 2.7%, for the base config). 0 when
  // HECATE_DECODE_DENSE_G=1 is in the environment (dense G, for comparison).
  static int Slots();

  StateRing(const ModelConfig& config, int slots);

  bool enabled() const { return slots_ > 0; }
  int slots() const { return slots_; }
  // Canonical bytes plus the tail: what a device state allocates.
  size_t state_bytes() const { return state_bytes_; }
  // Layer `layer`'s ring for a CmsSlow call over the slow levels in order
  // (e_offset[i] for the i-th level with period > 1).
  CmsRingParams Layer(int layer) const;

  // Adds the rings into G and sets the origin to pulse + advance, for
  // `batch` states whose bases and pulse ids are device arrays.
  absl::Status FoldAll(float* const* device_states, const uint64_t* device_pulse, int batch,
                       uint64_t advance, cudaStream_t stream) const;
  // The same for one state at `pulse` (advance 0).
  absl::Status Fold(float* state, uint64_t pulse, cudaStream_t stream) const;
  // Empties the rings of a state whose dense G is canonical (after an
  // upload of the canonical bytes): origin = pulse. Returns after the copy
  // of the origin has left the host.
  absl::Status Reset(float* state, uint64_t pulse, cudaStream_t stream) const;

 private:
  CmsRingFoldParams FoldParams() const;

  int slots_ = 0;
  int layers_ = 0, heads_ = 0, dim_ = 0;
  std::vector<int> periods_;    // slow levels
  std::vector<size_t> g_offset_;  // layer 0's G of each slow level
  size_t state_layer_stride_ = 0;
  size_t origin_offset_ = 0;
  size_t ring_offset_ = 0;      // layer 0's keys
  size_t ring_layer_stride_ = 0;
  size_t state_bytes_ = 0;
};

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_STATE_RING_H_

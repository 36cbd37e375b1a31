// Snapshots: periodic host copies of a session's state, and the chunking of
// what it consumed since the oldest, so that the session can be rewound to
// (or forked at) any pulse from the oldest snapshot on by replaying its
// journal (transcript.h) from the nearest snapshot before it.
//
// Replay reproduces the original chunking exactly (the recorded chunk
// boundaries, the last chunk cut at the target pulse): the forward pass is
// deterministic per chunk but not bitwise invariant to chunking (float
// rounding; backends/cpu/forward_test.cc proves only 1e-5), so a rewound
// session equals, bit for bit, a session fed the same first bytes in the
// same chunks (the last one cut at the target).
//
// Budget: snapshots are taken at chunk ends once `interval` pulses have
// passed since the newest, and hold at most `max_bytes` of state (default:
// twice the state); past it the oldest are dropped first. A fresh session's
// zero state at pulse 0 is a free snapshot (no bytes) that stays while the
// journal still holds every byte from pulse 0 (so any pulse stays reachable,
// at the cost of replaying from the start when no later snapshot is kept).
// A session with none (restored, reloaded from disk, forked) takes one at
// the end of its next chunk.
// Snapshots live in host memory on every backend, downloaded in the
// background where a spare device state is free (host_copies.h); they are
// not written to disk (a session offloaded to disk, drained or restored keeps none, and
// can be rewound again from the snapshots taken after it came back).
//
// Not thread-safe; touched by the session's claim holder only.
#ifndef HECATE_SESSIONS_SNAPSHOTS_H_
#define HECATE_SESSIONS_SNAPSHOTS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/model_state.h"
#include "sessions/host_copies.h"
#include "sessions/transcript.h"

namespace hecate {

// One snapshot: the state at a chunk boundary, where the transcript's digest
// chain stood, and the next-token logits then.
struct Snapshot {
  uint64_t pulse_id = 0;
  // null: the all-zero state (pulse 0). May still be downloading: Wait().
  std::shared_ptr<const PendingHostCopy> state;
  TranscriptChain chain;
  std::vector<float> next_logits;
};

// A run of `count` consecutive chunks of `length` tokens from pulse `start`.
struct ChunkRun {
  uint64_t start = 0;
  uint64_t length = 0;
  uint64_t count = 0;
  uint64_t end() const { return start + length * count; }
};

struct SnapshotPolicy {
  uint64_t interval = 4096;  // pulses between snapshots (>= 1)
  size_t max_bytes = 0;      // of snapshot state per session
};

class SnapshotRing {
 public:
  SnapshotRing() = default;
  SnapshotRing(SnapshotRing&&) = default;
  SnapshotRing& operator=(SnapshotRing&&) = default;

  // Forgets everything (offload to disk, restore): nothing is reachable
  // before the next snapshot.
  void Clear();
  // Starts a fresh session's history: the zero state at pulse 0.
  void StartFresh(const TranscriptChain& chain_at_zero);
  // Adds a snapshot taken at a chunk end (its pulse must be the end of the
  // last recorded chunk, or the first of an empty history), then drops the
  // oldest past policy.max_bytes.
  void Add(Snapshot snapshot, const SnapshotPolicy& policy);
  // Records a chunk of `length` tokens from `start` (must follow the last
  // one; ignored while there is no snapshot to replay it from).
  void RecordChunk(uint64_t start, uint64_t length);
  // Whether a chunk ending at `pulse_id` should be followed by a snapshot.
  bool Due(uint64_t pulse_id, const SnapshotPolicy& policy) const;
  // Drops snapshots (and chunks) before `journal_start`: their replay would
  // need bytes the journal no longer holds.
  void DropBefore(uint64_t journal_start);

  // The newest snapshot at or before `pulse`, or null (OUT_OF_RANGE is the
  // caller's: oldest_pulse() says the first reachable pulse).
  const Snapshot* Nearest(uint64_t pulse) const;
  bool empty() const { return snapshots_.empty(); }
  uint64_t oldest_pulse() const { return snapshots_.front().pulse_id; }
  size_t count() const { return snapshots_.size(); }
  // Host bytes of the snapshots' states.
  size_t bytes() const { return bytes_; }
  // The chunk lengths to replay from `from` to `to` (the last cut at `to`):
  // the original chunking. Requires a snapshot at `from` <= to <= the end
  // of the recorded chunks.
  std::vector<uint64_t> ChunksBetween(uint64_t from, uint64_t to) const;
  // After a rewind to `pulse`: drops snapshots after it and cuts the chunk
  // record there (the last chunk, cut, ends at `pulse`).
  void TruncateTo(uint64_t pulse);

 private:
  std::deque<Snapshot> snapshots_;
  std::deque<ChunkRun> runs_;
  size_t bytes_ = 0;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_SNAPSHOTS_H_

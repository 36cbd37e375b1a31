#include "sessions/snapshots.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace hecate {
namespace {

size_t StateBytes(const Snapshot& s) {
  return s.state == nullptr ? 0 : s.state->bytes();
}

}  // namespace

void SnapshotRing::Clear() {
  snapshots_.clear();
  runs_.clear();
  bytes_ = 0;
}

void SnapshotRing::StartFresh(const TranscriptChain& chain_at_zero) {
  Clear();
  Snapshot zero;
  zero.pulse_id = 0;
  zero.chain = chain_at_zero;
  snapshots_.push_back(std::move(zero));
}

void SnapshotRing::Add(Snapshot snapshot, const SnapshotPolicy& policy) {
  if (!snapshots_.empty() && snapshot.pulse_id <= snapshots_.back().pulse_id) return;
  if (!snapshots_.empty() && (runs_.empty() || runs_.back().end() != snapshot.pulse_id)) {
    // Chunks were not recorded up to here: earlier snapshots cannot replay.
    Clear();
  }
  bytes_ += StateBytes(snapshot);
  snapshots_.push_back(std::move(snapshot));
  // The oldest snapshot with bytes goes first; the free zero state at pulse 0
  // stays while the journal reaches back to it.
  while (bytes_ > policy.max_bytes) {
    auto oldest = std::find_if(snapshots_.begin(), snapshots_.end(),
                               [](const Snapshot& s) { return s.state != nullptr; });
    if (oldest == snapshots_.end() || std::next(oldest) == snapshots_.end()) break;
    bytes_ -= StateBytes(*oldest);
    snapshots_.erase(oldest);
  }
  // Chunks before the oldest snapshot are never replayed.
  const uint64_t oldest = snapshots_.front().pulse_id;
  while (!runs_.empty() && runs_.front().end() <= oldest) runs_.pop_front();
  if (bytes_ > policy.max_bytes) Clear();  // one snapshot alone is over budget
}

void SnapshotRing::RecordChunk(uint64_t start, uint64_t length) {
  if (snapshots_.empty() || length == 0) return;
  const uint64_t expected = runs_.empty() ? snapshots_.back().pulse_id : runs_.back().end();
  if (start != expected) {  // a gap: nothing before it can be replayed
    Clear();
    return;
  }
  if (!runs_.empty() && runs_.back().length == length) {
    ++runs_.back().count;
  } else {
    runs_.push_back(ChunkRun{start, length, 1});
  }
}

bool SnapshotRing::Due(uint64_t pulse_id, const SnapshotPolicy& policy) const {
  if (policy.max_bytes == 0) return false;
  return snapshots_.empty() || pulse_id >= snapshots_.back().pulse_id + policy.interval;
}

void SnapshotRing::DropBefore(uint64_t journal_start) {
  while (!snapshots_.empty() && snapshots_.front().pulse_id < journal_start) {
    bytes_ -= StateBytes(snapshots_.front());
    snapshots_.pop_front();
  }
  if (snapshots_.empty()) {
    runs_.clear();
    return;
  }
  const uint64_t oldest = snapshots_.front().pulse_id;
  while (!runs_.empty() && runs_.front().end() <= oldest) runs_.pop_front();
}

const Snapshot* SnapshotRing::Nearest(uint64_t pulse) const {
  const Snapshot* best = nullptr;
  for (const Snapshot& s : snapshots_) {
    if (s.pulse_id <= pulse) best = &s;
  }
  return best;
}

std::vector<uint64_t> SnapshotRing::ChunksBetween(uint64_t from, uint64_t to) const {
  std::vector<uint64_t> chunks;
  for (const ChunkRun& run : runs_) {
    for (uint64_t i = 0; i < run.count; ++i) {
      const uint64_t start = run.start + i * run.length;
      const uint64_t end = start + run.length;
      if (end <= from) continue;
      if (start >= to) return chunks;
      // Snapshots sit at chunk boundaries, so `from` is a chunk's start.
      chunks.push_back(std::min(end, to) - std::max(start, from));
    }
  }
  return chunks;
}

void SnapshotRing::TruncateTo(uint64_t pulse) {
  while (!snapshots_.empty() && snapshots_.back().pulse_id > pulse) {
    bytes_ -= StateBytes(snapshots_.back());
    snapshots_.pop_back();
  }
  if (snapshots_.empty()) {
    runs_.clear();
    return;
  }
  while (!runs_.empty() && runs_.back().start >= pulse) runs_.pop_back();
  if (runs_.empty() || runs_.back().end() <= pulse) return;
  // Cut the run that holds `pulse`: its whole chunks before it, then the
  // chunk it falls in, cut short.
  const ChunkRun run = runs_.back();
  runs_.pop_back();
  const uint64_t whole = (pulse - run.start) / run.length;
  const uint64_t rest = (pulse - run.start) % run.length;
  if (whole > 0) runs_.push_back(ChunkRun{run.start, run.length, whole});
  if (rest > 0) runs_.push_back(ChunkRun{pulse - rest, rest, 1});
}

}  // namespace hecate

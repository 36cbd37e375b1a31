// SessionStore's transcripts, forks and rewinds (session_store.h,
// transcript.h, snapshots.h).
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sessions/session_store.h"

namespace hecate {

SnapshotPolicy SessionStore::snapshot_policy() const {
  SnapshotPolicy policy;
  policy.interval = options_.snapshot_interval;
  policy.max_bytes = options_.max_snapshot_bytes.value_or(2 * state_bytes_);
  return policy;
}

void SessionStore::MaybeSnapshot(Session& session, uint64_t pulse_before,
                                 absl::Span<const uint64_t> lengths) {
  SnapshotRing& ring = session.snapshots();
  const SnapshotPolicy policy = snapshot_policy();
  if (policy.max_bytes == 0) {  // no snapshots: not even the free one at pulse 0
    ring.Clear();
    return;
  }
  const size_t bytes_before = ring.bytes();
  uint64_t tokens = 0;
  for (uint64_t length : lengths) {
    ring.RecordChunk(pulse_before + tokens, length);
    tokens += length;
  }
  ring.DropBefore(session.transcript_start_pulse());
  const uint64_t pulse = session.pulse_id();
  if (tokens > 0 && ring.Due(pulse, policy)) {
    // The download of a whole state would hold up the engine step that took
    // it: a device copy into a spare goes to host in the background. When
    // every spare is busy (many sessions due at once) the snapshot waits for
    // a later chunk end (it stays due); without background snapshots or a
    // pool, or when the device copy failed, it is a synchronous download. A
    // failed download only means no snapshot here (a failed background
    // download fails the rewind that needs it).
    const absl::Time began = absl::Now();
    auto report = [&](SnapshotEvent::How how) {
      if (options_.observer != nullptr) {
        options_.observer->OnSnapshot(SnapshotEvent{how, absl::Now() - began});
      }
    };
    absl::StatusOr<std::unique_ptr<BackendState>> copy = std::unique_ptr<BackendState>();
    if (options_.background_snapshots) {
      copy = CopyIntoSpare(*session.device_state());
      if (copy.ok() && *copy == nullptr && options_.max_device_chunk_snapshots > 0) {
        if (ring.bytes() != bytes_before) Account(session);
        report(SnapshotEvent::How::kDeferred);
        return;  // every spare busy: due again at the next chunk end
      }
    }
    // Made only for a snapshot taken: at 64 sessions most due snapshots are
    // put off (3357 of 3421 in a 20 s run on the H200), on the engine thread.
    auto host = std::make_shared<PendingHostCopy>(model().config(), snapshot_states_);
    bool taken = false;
    if (copy.ok() && *copy != nullptr) {
      host_copies_->Schedule(*std::move(copy), host);
      taken = true;
      report(SnapshotEvent::How::kSpare);
    }
    if (!taken) {
      absl::Status downloaded = backend_.Download(*session.device_state(), host->target());
      taken = downloaded.ok();
      host->Finish(std::move(downloaded));
      report(SnapshotEvent::How::kDownload);
    }
    if (taken) {
      Snapshot snapshot;
      snapshot.pulse_id = pulse;
      snapshot.state = std::move(host);
      snapshot.chain = session.transcript_chain();
      snapshot.next_logits = session.next_logits();
      ring.Add(std::move(snapshot), policy);
    }
  }
  if (ring.bytes() != bytes_before) Account(session);
}

absl::StatusOr<SessionStore::Replayed> SessionStore::Replay(Session& session, uint64_t to_pulse) {
  SnapshotRing& ring = session.snapshots();
  ring.DropBefore(session.transcript_start_pulse());
  const Snapshot* snapshot = ring.Nearest(to_pulse);
  if (snapshot == nullptr) {
    return absl::OutOfRangeError(absl::StrCat(
        "pulse ", to_pulse, " is before the oldest pulse session ", session.id(),
        " can be rewound to, ", ring.empty() ? session.pulse_id() : ring.oldest_pulse(),
        " (snapshots every --snapshot_interval=", options_.snapshot_interval,
        " pulses, the oldest dropped first)"));
  }
  const Transcript transcript = session.transcript();
  HECATE_ASSIGN_OR_RETURN(Transcript rewound, transcript.Rewound(snapshot->chain, to_pulse));
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend_.NewState());
  if (snapshot->state != nullptr) {
    HECATE_ASSIGN_OR_RETURN(const ModelState* host, snapshot->state->Wait());
    HECATE_RETURN_IF_ERROR(backend_.Upload(*host, *state));
  }
  // The original chunks, the last one cut at to_pulse.
  const std::vector<uint64_t> chunks = ring.ChunksBetween(snapshot->pulse_id, to_pulse);
  uint64_t total = 0;
  for (uint64_t length : chunks) total += length;
  if (snapshot->pulse_id + total != to_pulse) {
    return absl::InternalError(absl::StrCat("chunk record from pulse ", snapshot->pulse_id,
                                            " covers ", total, " pulses, not up to ", to_pulse));
  }
  const absl::string_view journal = transcript.journal();
  uint64_t at = snapshot->pulse_id - transcript.journal_start();
  std::vector<float> logits;
  for (uint64_t length : chunks) {
    const absl::string_view bytes = journal.substr(at, length);
    at += length;
    HECATE_RETURN_IF_ERROR(backend_.Forward(
        *state,
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
        LogitsMode::kLast, &logits));
  }
  Replayed out{std::move(state), std::move(rewound),
               chunks.empty() ? snapshot->next_logits : std::move(logits)};
  return out;
}

absl::StatusOr<TranscriptBytes> SessionStore::ReadTranscript(absl::string_view id,
                                                             absl::string_view owner,
                                                             uint64_t from_pulse,
                                                             size_t max_bytes) const {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, Find(id, owner));
  return session->ReadTranscript(from_pulse, max_bytes);
}

absl::StatusOr<SessionInfo> SessionStore::Fork(absl::string_view id, absl::string_view owner,
                                               std::optional<uint64_t> at_pulse) {
  {
    absl::MutexLock lock(&mu_);  // fail before allocating device memory
    HECATE_RETURN_IF_ERROR(LimitError(owner));
  }
  HECATE_ASSIGN_OR_RETURN(SessionLease source, Acquire(id, owner));
  Session& session = *source.session_;
  const uint64_t pulse_id = session.pulse_id();
  if (at_pulse.has_value() && *at_pulse > pulse_id) {
    return absl::OutOfRangeError(absl::StrCat("at_pulse ", *at_pulse, " is after session ",
                                              session.id(), "'s pulse id ", pulse_id));
  }
  if (at_pulse.has_value() && *at_pulse != pulse_id) {
    HECATE_ASSIGN_OR_RETURN(Replayed replayed, Replay(session, *at_pulse));
    source.Release();
    return Insert(owner, std::move(replayed.state), *at_pulse, std::move(replayed.transcript),
                  replayed.next_logits);
  }
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend_.NewState());
  HECATE_RETURN_IF_ERROR(backend_.Copy(*session.device_state(), *state));
  const std::vector<float> next_logits = session.next_logits();
  Transcript transcript = session.transcript();
  source.Release();
  return Insert(owner, std::move(state), pulse_id, std::move(transcript), next_logits);
}

absl::StatusOr<SessionInfo> SessionStore::Rewind(absl::string_view id, absl::string_view owner,
                                                 uint64_t to_pulse) {
  HECATE_ASSIGN_OR_RETURN(SessionLease lease, Acquire(id, owner));
  Session& session = *lease.session_;
  const uint64_t pulse_id = session.pulse_id();
  if (to_pulse > pulse_id) {
    return absl::OutOfRangeError(absl::StrCat("to_pulse ", to_pulse, " is after session ",
                                              session.id(), "'s pulse id ", pulse_id));
  }
  if (to_pulse == pulse_id) return session.Info();
  HECATE_ASSIGN_OR_RETURN(Replayed replayed, Replay(session, to_pulse));
  // Nothing has changed so far; from here on nothing fails.
  session.SetOnDevice(std::move(replayed.state));
  session.set_pulse_id(to_pulse);
  session.set_transcript(std::move(replayed.transcript));
  if (replayed.next_logits.empty()) {
    session.clear_next_logits();
  } else {
    session.set_next_logits(replayed.next_logits);
  }
  session.snapshots().TruncateTo(to_pulse);
  Account(session);
  return session.Info();
}

}  // namespace hecate

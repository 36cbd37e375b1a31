// SessionStore's chunks: advancing leased sessions whole or not at all, and
// keeping each session's next-token logits (session_store.h).
#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

// The last row of `logits` when `mode` produced any; empty otherwise.
absl::Span<const float> LastRow(LogitsMode mode, const std::vector<float>* logits,
                                size_t vocab) {
  if (mode == LogitsMode::kNone || logits == nullptr || logits->size() < vocab) return {};
  return absl::MakeConstSpan(*logits).subspan(logits->size() - vocab, vocab);
}

}  // namespace

void SessionStore::RecordChunk(Session& session, absl::Span<const uint8_t> tokens,
                               TokenSource source, absl::Span<const float> next_logits,
                               absl::Span<const uint64_t> slices) {
  session.set_pulse_id(session.device_state()->pulse_id());
  if (!tokens.empty() && !next_logits.empty()) session.set_next_logits(next_logits);
  const uint64_t pulse_before = session.pulse_id() - tokens.size();
  session.AppendTranscript(tokens, options_.max_journal_bytes);
  const uint64_t whole[1] = {tokens.size()};
  MaybeSnapshot(session, pulse_before, slices.empty() ? absl::MakeConstSpan(whole) : slices);
  absl::MutexLock lock(&mu_);
  session.RecordUse(tokens.size(), source == TokenSource::kGenerated ? tokens.size() : 0,
                    ++use_sequence_, absl::Now());
}

absl::StatusOr<std::unique_ptr<BackendState>> SessionStore::CopyIntoSpare(
    const BackendState& state) {
  std::unique_ptr<BackendState> spare;
  {
    absl::MutexLock lock(&spare_mu_);
    if (!spare_states_.empty()) {
      spare = std::move(spare_states_.back());
      spare_states_.pop_back();
    } else if (spare_states_made_ >= options_.max_device_chunk_snapshots) {
      return nullptr;
    } else {
      ++spare_states_made_;
    }
  }
  if (spare == nullptr) {
    absl::StatusOr<std::unique_ptr<BackendState>> made = backend_.NewState();
    if (!made.ok()) {
      absl::MutexLock lock(&spare_mu_);
      --spare_states_made_;
      return nullptr;
    }
    spare = *std::move(made);
  }
  if (absl::Status copied = backend_.Copy(state, *spare); !copied.ok()) {
    ReturnSpare(std::move(spare));
    return copied;
  }
  return spare;
}

void SessionStore::ReturnSpare(std::unique_ptr<BackendState> spare) {
  if (spare == nullptr) return;
  absl::MutexLock lock(&spare_mu_);
  spare_states_.push_back(std::move(spare));
}

absl::StatusOr<ChunkSnapshot> SessionStore::TakeSnapshot(const BackendState& state,
                                                         size_t tokens) {
  ChunkSnapshot snapshot;
  if (tokens < options_.snapshot_min_tokens) return snapshot;
  // No spare free, or a failed copy: fall back to the host.
  if (absl::StatusOr<std::unique_ptr<BackendState>> copy = CopyIntoSpare(state);
      copy.ok() && *copy != nullptr) {
    snapshot.device = *std::move(copy);
    return snapshot;
  }
  snapshot.host = std::make_unique<ModelState>(model().config());
  HECATE_RETURN_IF_ERROR(backend_.Download(state, *snapshot.host));
  return snapshot;
}

void SessionStore::RecycleSnapshot(ChunkSnapshot& snapshot) {
  snapshot.host.reset();
  ReturnSpare(std::move(snapshot.device));
}

absl::Status SessionStore::RollBackOrDamage(Session& session, uint64_t pulse_before,
                                            ChunkSnapshot& snapshot,
                                            const absl::Status& failure) {
  BackendState& state = *session.device_state();
  const bool unchanged_by_contract =
      absl::IsInvalidArgument(failure) && state.pulse_id() == pulse_before;
  if (unchanged_by_contract) {
    RecycleSnapshot(snapshot);
    return failure;
  }
  if (!snapshot.empty()) {
    absl::Status restored = snapshot.device != nullptr
                                ? backend_.Copy(*snapshot.device, state)
                                : backend_.Upload(*snapshot.host, state);
    RecycleSnapshot(snapshot);
    if (restored.ok()) {
      if (absl::IsCancelled(failure)) {
        return absl::CancelledError(absl::StrCat("chunk cancelled; session ", session.id(),
                                                 " unchanged at pulse id ", pulse_before));
      }
      return failure;
    }
  }
  session.MarkDamaged(absl::StrCat("session ", session.id(),
                                   " lost its state when a chunk failed at pulse id ",
                                   pulse_before, " (", failure.message(),
                                   "); restore it from a checkpoint or delete it"));
  return failure;
}

absl::Status SessionStore::PrepareChunk(const SessionLease& lease, size_t tokens,
                                        const std::atomic<bool>* cancel,
                                        ChunkSnapshot* snapshot) {
  if (!lease.valid() || lease.store_ != this) {
    return absl::FailedPreconditionError("ApplyChunk needs a live lease of this store");
  }
  Session& session = *lease.session_;
  BackendState& state = *session.device_state();
  if (cancel != nullptr && cancel->load()) {
    return absl::CancelledError(absl::StrCat("chunk cancelled; session ", session.id(),
                                             " unchanged at pulse id ", state.pulse_id()));
  }
  HECATE_ASSIGN_OR_RETURN(*snapshot, TakeSnapshot(state, tokens));
  return absl::OkStatus();
}

absl::Status SessionStore::ApplyChunk(SessionLease& lease, absl::Span<const uint8_t> tokens,
                                      LogitsMode mode, std::vector<float>* logits,
                                      const std::atomic<bool>* cancel, TokenSource source) {
  ChunkSnapshot snapshot;
  HECATE_RETURN_IF_ERROR(PrepareChunk(lease, tokens.size(), cancel, &snapshot));
  Session& session = *lease.session_;
  BackendState& state = *session.device_state();
  const uint64_t before = state.pulse_id();
  // The session keeps its last token's logits even when the caller wants none.
  std::vector<float> own_logits;
  if (mode == LogitsMode::kNone && !tokens.empty()) {
    mode = LogitsMode::kLast;
    logits = &own_logits;
  }
  absl::Status status = backend_.Forward(state, tokens, mode, logits,
                                         snapshot.empty() ? nullptr : cancel, nullptr);
  if (!status.ok()) return RollBackOrDamage(session, before, snapshot, status);
  RecycleSnapshot(snapshot);
  RecordChunk(session, tokens, source,
              LastRow(mode, logits, static_cast<size_t>(model().config().vocab_size)));
  return absl::OkStatus();
}

absl::Status SessionStore::ApplyChunkWithRows(SessionLease& lease,
                                              absl::Span<const uint8_t> tokens,
                                              const LogitRowsSink& rows,
                                              const std::atomic<bool>* cancel,
                                              TokenSource source) {
  ChunkSnapshot snapshot;
  HECATE_RETURN_IF_ERROR(PrepareChunk(lease, tokens.size(), cancel, &snapshot));
  Session& session = *lease.session_;
  BackendState& state = *session.device_state();
  const uint64_t before = state.pulse_id();
  const size_t step = std::max<size_t>(options_.logit_rows_per_slice, 1);
  std::vector<float> logits;
  for (size_t at = 0; at < tokens.size(); at += step) {
    const absl::Span<const uint8_t> slice = tokens.subspan(at, step);
    // Without a snapshot there is no roll-back, so no cancellation either.
    absl::Status status = backend_.Forward(state, slice, LogitsMode::kAll, &logits,
                                           snapshot.empty() ? nullptr : cancel, nullptr);
    if (status.ok()) status = rows(slice, logits);
    if (!status.ok()) return RollBackOrDamage(session, before, snapshot, status);
  }
  RecycleSnapshot(snapshot);
  RecordChunk(session, tokens, source,
              LastRow(LogitsMode::kAll, &logits,
                      static_cast<size_t>(model().config().vocab_size)));
  return absl::OkStatus();
}

absl::Status SessionStore::BeginChunk(SessionLease& lease, absl::Span<const uint8_t> tokens,
                                      TokenSource source, SlicedChunk& chunk) {
  if (!lease.valid() || lease.store_ != this) {
    return absl::FailedPreconditionError("BeginChunk needs a live lease of this store");
  }
  if (chunk.active()) return absl::FailedPreconditionError("BeginChunk: the chunk is active");
  Session& session = *lease.session_;
  const BackendState& state = *session.device_state();
  HECATE_ASSIGN_OR_RETURN(ChunkSnapshot snapshot, TakeSnapshot(state, tokens.size()));
  chunk = SlicedChunk();
  chunk.active_ = true;
  chunk.session_ = &session;
  chunk.tokens_ = tokens;
  chunk.source_ = source;
  chunk.pulse_before_ = state.pulse_id();
  chunk.snapshot_ = std::move(snapshot);
  return absl::OkStatus();
}

absl::Status SessionStore::AbandonChunk(SessionLease& lease, SlicedChunk& chunk) {
  if (!lease.valid() || lease.store_ != this || !chunk.active() ||
      chunk.session_ != lease.session_.get()) {
    return absl::FailedPreconditionError("AbandonChunk needs an active chunk of this lease");
  }
  chunk.active_ = false;
  Session& session = *lease.session_;
  if (session.device_state()->pulse_id() == chunk.pulse_before_) {
    RecycleSnapshot(chunk.snapshot_);
    return absl::CancelledError(absl::StrCat("chunk cancelled; session ", session.id(),
                                             " unchanged at pulse id ", chunk.pulse_before_));
  }
  return RollBackOrDamage(session, chunk.pulse_before_, chunk.snapshot_,
                          absl::CancelledError("chunk cancelled"));
}

absl::Status SessionStore::ApplyBatch(absl::Span<ChunkRequest> chunks) {
  absl::flat_hash_set<const Session*> seen;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkRequest& c = chunks[i];
    if (c.lease == nullptr || !c.lease->valid() || c.lease->store_ != this) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", i, " has no live lease"));
    }
    if (!seen.insert(c.lease->session_.get()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, " names session ", c.lease->session_id(), " twice"));
    }
    if (c.mode != LogitsMode::kNone && c.logits == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, " asks for logits but has no buffer"));
    }
    if (c.rows && c.mode != LogitsMode::kAll) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, " has a rows sink but does not ask for every row"));
    }
    if (c.mode == LogitsMode::kLast && c.tokens.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, " is empty, so it has no last token to give logits for"));
    }
    if (c.sliced != nullptr) {
      const SlicedChunk& sliced = *c.sliced;
      const absl::Span<const uint8_t> rest = sliced.remaining();
      if (!sliced.active() || sliced.session_ != c.lease->session_.get() ||
          c.tokens.data() != rest.data() || c.tokens.size() > rest.size() ||
          c.tokens.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "chunk ", i, " is not the next slice of an active sliced chunk of its session"));
      }
    }
  }
  std::vector<ChunkSnapshot> snapshots(chunks.size());
  std::vector<uint64_t> before(chunks.size());
  std::vector<ForwardItem> items(chunks.size());
  // Logits of chunks that ask for none: the sessions keep the last row.
  std::vector<std::vector<float>> own_logits(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    BackendState& state = *chunks[i].lease->session_->device_state();
    before[i] = state.pulse_id();
    if (chunks[i].sliced == nullptr) {
      absl::StatusOr<ChunkSnapshot> snapshot = TakeSnapshot(state, chunks[i].tokens.size());
      if (!snapshot.ok()) {
        for (ChunkSnapshot& taken : snapshots) RecycleSnapshot(taken);
        return snapshot.status();
      }
      snapshots[i] = *std::move(snapshot);
    }
    items[i] = ForwardItem{&state, chunks[i].tokens, chunks[i].mode, chunks[i].logits};
    if (items[i].mode == LogitsMode::kNone && !items[i].tokens.empty()) {
      items[i].mode = LogitsMode::kLast;
      items[i].logits = &own_logits[i];
    }
  }
  absl::Status status = backend_.ForwardBatch(absl::MakeSpan(items));
  for (size_t i = 0; i < chunks.size() && status.ok(); ++i) {
    if (chunks[i].rows) status = chunks[i].rows(chunks[i].tokens, *chunks[i].logits);
  }
  const size_t vocab = static_cast<size_t>(model().config().vocab_size);
  for (size_t i = 0; i < chunks.size(); ++i) {
    Session& session = *chunks[i].lease->session_;
    SlicedChunk* sliced = chunks[i].sliced;
    if (!status.ok()) {
      // A batch has no "unchanged by contract": another item may have failed.
      const absl::Status failure =
          absl::IsInvalidArgument(status) ? absl::InternalError(status.message()) : status;
      if (sliced != nullptr) {
        sliced->active_ = false;
        RollBackOrDamage(session, sliced->pulse_before_, sliced->snapshot_, failure)
            .IgnoreError();
      } else {
        RollBackOrDamage(session, before[i], snapshots[i], failure).IgnoreError();
      }
      continue;
    }
    const absl::Span<const float> last = LastRow(items[i].mode, items[i].logits, vocab);
    if (sliced == nullptr) {
      RecycleSnapshot(snapshots[i]);
      RecordChunk(session, chunks[i].tokens, chunks[i].source, last);
      continue;
    }
    sliced->applied_ += chunks[i].tokens.size();
    sliced->slices_.push_back(chunks[i].tokens.size());
    if (sliced->applied_ == sliced->tokens_.size()) {
      sliced->active_ = false;
      RecycleSnapshot(sliced->snapshot_);
      RecordChunk(session, sliced->tokens_, sliced->source_, last, sliced->slices_);
    }
  }
  return status;
}

}  // namespace hecate

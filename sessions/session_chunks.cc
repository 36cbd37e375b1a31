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
                               TokenSource source, absl::Span<const float> next_logits) {
  session.set_pulse_id(session.device_state()->pulse_id());
  if (!tokens.empty() && !next_logits.empty()) session.set_next_logits(next_logits);
  const uint64_t pulse_before = session.pulse_id() - tokens.size();
  session.AppendTranscript(tokens, options_.max_journal_bytes);
  MaybeSnapshot(session, pulse_before, tokens.size());
  absl::MutexLock lock(&mu_);
  session.RecordUse(tokens.size(), source == TokenSource::kGenerated ? tokens.size() : 0,
                    ++use_sequence_, absl::Now());
}

absl::Status SessionStore::RollBackOrDamage(Session& session, uint64_t pulse_before,
                                            const ModelState* snapshot,
                                            const absl::Status& failure) {
  BackendState& state = *session.device_state();
  const bool unchanged_by_contract =
      absl::IsInvalidArgument(failure) && state.pulse_id() == pulse_before;
  if (unchanged_by_contract) return failure;
  if (snapshot != nullptr) {
    absl::Status restored = backend_.Upload(*snapshot, state);
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
                                        std::unique_ptr<ModelState>* snapshot) {
  if (!lease.valid() || lease.store_ != this) {
    return absl::FailedPreconditionError("ApplyChunk needs a live lease of this store");
  }
  Session& session = *lease.session_;
  BackendState& state = *session.device_state();
  if (cancel != nullptr && cancel->load()) {
    return absl::CancelledError(absl::StrCat("chunk cancelled; session ", session.id(),
                                             " unchanged at pulse id ", state.pulse_id()));
  }
  if (tokens >= options_.snapshot_min_tokens) {
    *snapshot = std::make_unique<ModelState>(model().config());
    return backend_.Download(state, **snapshot);
  }
  return absl::OkStatus();
}

absl::Status SessionStore::ApplyChunk(SessionLease& lease, absl::Span<const uint8_t> tokens,
                                      LogitsMode mode, std::vector<float>* logits,
                                      const std::atomic<bool>* cancel, TokenSource source) {
  std::unique_ptr<ModelState> snapshot;
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
                                         snapshot != nullptr ? cancel : nullptr, nullptr);
  if (!status.ok()) return RollBackOrDamage(session, before, snapshot.get(), status);
  RecordChunk(session, tokens, source,
              LastRow(mode, logits, static_cast<size_t>(model().config().vocab_size)));
  return absl::OkStatus();
}

absl::Status SessionStore::ApplyChunkWithRows(SessionLease& lease,
                                              absl::Span<const uint8_t> tokens,
                                              const LogitRowsSink& rows,
                                              const std::atomic<bool>* cancel,
                                              TokenSource source) {
  std::unique_ptr<ModelState> snapshot;
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
                                           snapshot != nullptr ? cancel : nullptr, nullptr);
    if (status.ok()) status = rows(slice, logits);
    if (!status.ok()) return RollBackOrDamage(session, before, snapshot.get(), status);
  }
  RecordChunk(session, tokens, source,
              LastRow(LogitsMode::kAll, &logits,
                      static_cast<size_t>(model().config().vocab_size)));
  return absl::OkStatus();
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
  }
  std::vector<std::unique_ptr<ModelState>> snapshots(chunks.size());
  std::vector<uint64_t> before(chunks.size());
  std::vector<ForwardItem> items(chunks.size());
  // Logits of chunks that ask for none: the sessions keep the last row.
  std::vector<std::vector<float>> own_logits(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    BackendState& state = *chunks[i].lease->session_->device_state();
    before[i] = state.pulse_id();
    if (chunks[i].tokens.size() >= options_.snapshot_min_tokens) {
      snapshots[i] = std::make_unique<ModelState>(model().config());
      HECATE_RETURN_IF_ERROR(backend_.Download(state, *snapshots[i]));
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
    if (status.ok()) {
      RecordChunk(session, chunks[i].tokens, chunks[i].source,
                  LastRow(items[i].mode, items[i].logits, vocab));
    } else {
      // A batch has no "unchanged by contract": another item may have failed.
      RollBackOrDamage(session, before[i], snapshots[i].get(),
                       absl::IsInvalidArgument(status) ? absl::InternalError(status.message())
                                                       : status)
          .IgnoreError();
    }
  }
  return status;
}

}  // namespace hecate

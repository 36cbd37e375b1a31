#include "server/session_request.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/routing.h"

namespace hecate {
namespace {

// Steps up to this many tokens go through the batcher; longer chunks run on
// their own, where cancellation can roll them back mid-chunk.
constexpr size_t kMaxBatchedTokens = 16;

// The status payload holding the session's pulse id (decimal).
constexpr char kCurrentPulsePayload[] = "type.hecate.dev/hecate.v1.current_pulse_id";

}  // namespace

absl::StatusOr<ChunkOutcome> RunSessionRequest(ServiceContext& context, absl::string_view user,
                                               absl::string_view session_id,
                                               absl::string_view input,
                                               const v1::OutputSpec& spec,
                                               std::optional<uint64_t> expected_pulse_id,
                                               const std::atomic<bool>* cancel,
                                               const TokenSink& sink) {
  SessionStore& store = *context.store;
  HECATE_RETURN_IF_ERROR(EnsureSessionHere(context, nullptr, user, session_id));
  HECATE_ASSIGN_OR_RETURN(SessionLease lease, RetryAfterPublish(context, session_id, [&] {
                            return store.Acquire(session_id, user);
                          }));
  // Under the lease: nothing can apply between this check and the chunk.
  if (expected_pulse_id.has_value() && lease.pulse_id() != *expected_pulse_id) {
    return PulseMismatchError(session_id, lease.pulse_id(), *expected_pulse_id,
                              lease.info().transcript_digest);
  }
  StepBatcher::Participant participant(context.batcher);
  // The first apply is the input chunk; every later one a generated token.
  bool generating = false;
  std::vector<float> batch_rows;
  ApplyFn apply = [&](absl::Span<const uint8_t> tokens, LogitsMode mode,
                      std::vector<float>* logits,
                      const LogitRowsSink& rows) -> absl::StatusOr<uint64_t> {
    const TokenSource source = generating ? TokenSource::kGenerated : TokenSource::kInput;
    generating = true;
    absl::Status s;
    if (context.batcher != nullptr && tokens.size() <= kMaxBatchedTokens) {
      // A short chunk's rows fit in one buffer, handed to `rows` by the batch.
      const bool all = mode == LogitsMode::kAll;
      s = context.batcher->Apply(ChunkRequest{&lease, tokens, mode, all ? &batch_rows : logits,
                                              source, all ? rows : nullptr});
    } else if (mode == LogitsMode::kAll) {
      s = store.ApplyChunkWithRows(lease, tokens, rows, cancel, source);
    } else {
      s = store.ApplyChunk(lease, tokens, mode, logits, cancel, source);
    }
    if (!s.ok()) return s;
    return lease.pulse_id();
  };
  // Copied: the lease's next-token logits change with the chunk.
  const std::vector<float> start_logits = lease.next_logits();
  absl::StatusOr<ChunkOutcome> outcome =
      RunChunk(apply, lease.pulse_id(), start_logits, input, spec, cancel, sink);
  if (outcome.ok()) outcome->transcript_digest = lease.info().transcript_digest;
  lease.Release();
  if (!outcome.ok()) return outcome;

  metrics::ServerMetrics* m = context.metrics;
  m->chunk_forward_duration_seconds->Observe(absl::ToDoubleSeconds(outcome->forward_time));
  m->tokens_in->Increment(static_cast<double>(input.size() + outcome->generated_tokens));
  if (outcome->generated_tokens > 0) {
    m->tokens_out->Increment(outcome->generated_tokens);
    m->time_to_first_token_seconds->Observe(absl::ToDoubleSeconds(outcome->first_token_latency));
    for (absl::Duration d : outcome->inter_token) {
      m->inter_token_latency_seconds->Observe(absl::ToDoubleSeconds(d));
    }
  }
  return outcome;
}

absl::Status PulseMismatchError(absl::string_view session_id, uint64_t current,
                                uint64_t expected, absl::string_view digest) {
  absl::Status status = absl::FailedPreconditionError(absl::StrCat(
      "session ", session_id, " is at pulse id ", current,
      digest.empty() ? "" : absl::StrCat(" (transcript digest ", digest, ")"),
      ", but expected_pulse_id is ", expected, "; nothing was applied (resend from pulse id ",
      current, ")"));
  status.SetPayload(kCurrentPulsePayload, absl::Cord(absl::StrCat(current)));
  return status;
}

std::optional<uint64_t> CurrentPulseId(const absl::Status& status) {
  const auto payload = status.GetPayload(kCurrentPulsePayload);  // absl::optional
  uint64_t pulse = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &pulse)) {
    return std::nullopt;
  }
  return pulse;
}

v1::ChunkDone ToChunkDone(const ChunkOutcome& outcome) {
  v1::ChunkDone done;
  done.set_finish_reason(outcome.finish_reason);
  for (const TokenChoice& c : outcome.top_k) {
    v1::TokenLogProb* t = done.add_top_k();
    t->set_token(static_cast<uint32_t>(c.token));
    t->set_logprob(c.logprob);
  }
  if (outcome.score.has_value()) {
    v1::ChunkScore* score = done.mutable_score();
    score->set_sum_logprob(outcome.score->sum_logprob);
    score->set_scored_bytes(outcome.score->scored_bytes);
    score->set_first_byte_scored(outcome.score->first_byte_scored);
    score->mutable_byte_logprobs()->Add(outcome.score->byte_logprobs.begin(),
                                        outcome.score->byte_logprobs.end());
  }
  done.set_generated_tokens(outcome.generated_tokens);
  done.set_forward_seconds(absl::ToDoubleSeconds(outcome.forward_time));
  done.set_transcript_digest(outcome.transcript_digest);
  return done;
}

}  // namespace hecate

#include "server/session_request.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/routing.h"

namespace hecate {
namespace {

// The status payload holding the session's pulse id (decimal).
constexpr char kCurrentPulsePayload[] = "type.hecate.dev/hecate.v1.current_pulse_id";

// The end of every request that got its session: the outcome's digest and
// timing, the lease released, the metrics, then `done`.
void FinishRequest(ServiceContext& context, const std::string& user, SessionLease& lease,
                   absl::StatusOr<ChunkOutcome> outcome, absl::Duration promotion,
                   absl::Duration queue, size_t input_bytes, const SessionRequestDone& done) {
  if (outcome.ok()) {
    outcome->transcript_digest = lease.info().transcript_digest;
    outcome->promotion_time = promotion;
    outcome->queue_time = queue;
  }
  lease.Release();
  if (outcome.ok()) {
    metrics::ServerMetrics* m = context.metrics;
    m->chunk_forward_duration_seconds->Observe(absl::ToDoubleSeconds(outcome->forward_time));
    m->tokens_in->Increment(static_cast<double>(input_bytes + outcome->generated_tokens));
    m->CountUserTokens(user, input_bytes, static_cast<uint64_t>(outcome->generated_tokens));
    if (outcome->generated_tokens > 0) {
      m->tokens_out->Increment(outcome->generated_tokens);
      m->time_to_first_token_seconds->Observe(
          absl::ToDoubleSeconds(outcome->first_token_latency));
      for (absl::Duration d : outcome->inter_token) {
        m->inter_token_latency_seconds->Observe(absl::ToDoubleSeconds(d));
      }
    }
  }
  done(std::move(outcome));
}

}  // namespace

void StartSessionRequest(ServiceContext& context, SessionRequest request, TokenSink sink,
                         SessionRequestDone done) {
  SessionStore& store = *context.store;
  if (absl::Status here =
          EnsureSessionHere(context, nullptr, request.user, request.session_id);
      !here.ok()) {
    return done(here);
  }
  const absl::Time claim_start = absl::Now();
  absl::StatusOr<SessionLease> lease = RetryAfterPublish(context, request.session_id, [&] {
    return store.Acquire(request.session_id, request.user);
  });
  if (!lease.ok()) return done(lease.status());
  const absl::Duration promotion = absl::Now() - claim_start;
  // Under the lease: nothing can apply between this check and the chunk.
  // `done` may start the session's next request at once, so every refusal
  // below releases the session first (the stream fuzzer's next request found
  // it still claimed: ABORTED "busy").
  if (request.expected_pulse_id.has_value() &&
      lease->pulse_id() != *request.expected_pulse_id) {
    absl::Status mismatch =
        PulseMismatchError(request.session_id, lease->pulse_id(), *request.expected_pulse_id,
                           lease->info().transcript_digest);
    lease->Release();
    return done(std::move(mismatch));
  }
  const size_t input_bytes = request.input.size();
  absl::StatusOr<std::unique_ptr<ChunkProgram>> program =
      ChunkProgram::Start(lease->pulse_id(), lease->next_logits(), std::move(request.input),
                          std::move(request.spec), request.cancel, std::move(sink));
  if (!program.ok()) {
    lease->Release();
    return done(program.status());
  }
  auto job = std::make_unique<EngineJob>();
  job->user = request.user;
  job->lease = *std::move(lease);
  job->program = *std::move(program);
  job->cancel = request.cancel;
  job->done = [&context, promotion, input_bytes,
               done = std::move(done)](std::unique_ptr<EngineJob> finished) {
    absl::StatusOr<ChunkOutcome> outcome = finished->shutdown.ok()
                                               ? finished->program->TakeOutcome()
                                               : absl::StatusOr<ChunkOutcome>(finished->shutdown);
    FinishRequest(context, finished->user, finished->lease, std::move(outcome), promotion,
                  finished->queue_time, input_bytes, done);
  };
  context.engine->Submit(std::move(job));
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

v1::GeneratedToken ToGeneratedToken(const GeneratedTokenEvent& event) {
  v1::GeneratedToken token;
  token.set_token(static_cast<uint32_t>(event.token));
  token.set_logprob(event.logprob);
  token.set_index(event.index);
  for (const TokenChoice& c : event.alternatives) {
    v1::TokenLogProb* alternative = token.add_alternatives();
    alternative->set_token(static_cast<uint32_t>(c.token));
    alternative->set_logprob(c.logprob);
  }
  return token;
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
  v1::ChunkTiming* timing = done.mutable_timing();
  timing->set_promotion_seconds(absl::ToDoubleSeconds(outcome.promotion_time));
  timing->set_queue_seconds(absl::ToDoubleSeconds(outcome.queue_time));
  timing->set_forward_seconds(absl::ToDoubleSeconds(outcome.forward_time));
  return done;
}

}  // namespace hecate

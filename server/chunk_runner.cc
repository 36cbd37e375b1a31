#include "server/chunk_runner.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/stop_matcher.h"
#include "server/validation.h"

namespace hecate {

absl::StatusOr<ChunkOutcome> RunChunk(const ApplyFn& apply, uint64_t start_pulse,
                                      absl::Span<const float> start_logits,
                                      absl::string_view input, const v1::OutputSpec& spec,
                                      const std::atomic<bool>* cancel, const TokenSink& sink) {
  const bool wants_logits = spec.has_top_k() || spec.has_sample();
  if (input.empty() && spec.has_score()) {
    return absl::InvalidArgumentError(
        "input must hold at least one token when output asks for score (there is nothing "
        "to score)");
  }
  if (input.empty() && wants_logits) {
    return absl::InvalidArgumentError(
        "input must hold at least one token when output asks for top_k or sample "
        "(the next-token distribution is that of the last input token)");
  }
  const SamplingOptions sampling = ToSamplingOptions(spec.sample());
  ChunkOutcome out;
  out.pulse_id = start_pulse;
  const absl::Time start = absl::Now();
  std::vector<float> logits;
  auto timed_apply = [&](absl::Span<const uint8_t> tokens, LogitsMode mode,
                         const LogitRowsSink& rows = nullptr) -> absl::Status {
    const absl::Time t0 = absl::Now();
    absl::StatusOr<uint64_t> pulse = apply(tokens, mode, &logits, rows);
    out.forward_time += absl::Now() - t0;
    if (!pulse.ok()) return pulse.status();
    out.pulse_id = *pulse;
    return absl::OkStatus();
  };
  const auto* bytes = reinterpret_cast<const uint8_t*>(input.data());
  const absl::Span<const uint8_t> tokens = absl::MakeConstSpan(bytes, input.size());
  if (spec.has_score()) {
    // Every token's logits, scored slice by slice as they come.
    ByteScorer scorer(start_logits, spec.score().per_byte());
    const LogitRowsSink score = [&scorer](absl::Span<const uint8_t> slice,
                                          absl::Span<const float> rows) {
      return scorer.Add(slice, rows);
    };
    HECATE_RETURN_IF_ERROR(timed_apply(tokens, LogitsMode::kAll, score));
    out.score = scorer.scores();
    return out;
  }
  if (!tokens.empty()) {
    if (absl::Status s = timed_apply(tokens, wants_logits ? LogitsMode::kLast : LogitsMode::kNone);
        !s.ok()) {
      return s;
    }
  }
  if (spec.has_top_k()) {
    out.top_k = TopK(logits, spec.top_k().k());
    return out;
  }
  if (!spec.has_sample()) return out;

  const v1::SamplingParams& params = spec.sample();
  bool is_stop[256] = {};
  for (unsigned char c : params.stop_bytes()) is_stop[c] = true;
  StopMatcher stop_sequences(
      std::vector<std::string>(params.stop_sequences().begin(), params.stop_sequences().end()));
  const int alternatives = params.top_k_alternatives();
  absl::Time last_token = start;
  out.finish_reason = v1::FINISH_REASON_MAX_TOKENS;
  for (int i = 0; i < params.max_tokens(); ++i) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      out.finish_reason = v1::FINISH_REASON_CANCELLED;
      break;
    }
    // The draw depends on (seed, pulse id of the position being sampled).
    const TokenChoice choice = SampleToken(logits, sampling, out.pulse_id);
    const uint8_t token = static_cast<uint8_t>(choice.token);
    // From the same logits, before applying the token replaces them.
    std::vector<TokenChoice> alternative_choices;
    if (alternatives > 0) alternative_choices = TopK(logits, alternatives);
    if (absl::Status s = timed_apply(absl::MakeConstSpan(&token, 1), LogitsMode::kLast); !s.ok()) {
      if (absl::IsCancelled(s)) {
        out.finish_reason = v1::FINISH_REASON_CANCELLED;
        break;
      }
      return s;
    }
    const absl::Time now = absl::Now();
    if (i == 0) {
      out.first_token_latency = now - start;
    } else {
      out.inter_token.push_back(now - last_token);
    }
    last_token = now;
    ++out.generated_tokens;
    sink(GeneratedTokenEvent{choice.token, choice.logprob, i, out.pulse_id,
                             std::move(alternative_choices)});
    // Both matchers see every token, so the sequence tail stays exact.
    const bool stop_sequence = stop_sequences.Add(token).has_value();
    if (is_stop[token]) {
      out.finish_reason = v1::FINISH_REASON_STOP_BYTE;
      break;
    }
    if (stop_sequence) {
      out.finish_reason = v1::FINISH_REASON_STOP_SEQUENCE;
      break;
    }
  }
  return out;
}

}  // namespace hecate

#include "server/chunk_program.h"

#include <utility>

#include "server/validation.h"

namespace hecate {

absl::StatusOr<std::unique_ptr<ChunkProgram>> ChunkProgram::Start(
    uint64_t start_pulse, absl::Span<const float> start_logits, std::string input,
    v1::OutputSpec spec, const std::atomic<bool>* cancel, TokenSink sink) {
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
  return std::unique_ptr<ChunkProgram>(new ChunkProgram(start_pulse, start_logits,
                                                        std::move(input), std::move(spec),
                                                        cancel, std::move(sink)));
}

ChunkProgram::ChunkProgram(uint64_t start_pulse, absl::Span<const float> start_logits,
                           std::string input, v1::OutputSpec spec,
                           const std::atomic<bool>* cancel, TokenSink sink)
    : input_(std::move(input)),
      spec_(std::move(spec)),
      cancel_(cancel),
      sink_(std::move(sink)),
      start_(absl::Now()) {
  out_.pulse_id = start_pulse;
  if (spec_.has_score()) scorer_.emplace(start_logits, spec_.score().per_byte());
}

std::optional<ChunkProgram::Apply> ChunkProgram::Next() {
  switch (phase_) {
    case Phase::kInput: {
      const auto* bytes = reinterpret_cast<const uint8_t*>(input_.data());
      Apply apply;
      apply.tokens = absl::MakeConstSpan(bytes, input_.size());
      if (scorer_.has_value()) {
        // Every token's logits, scored slice by slice as they come.
        apply.mode = LogitsMode::kAll;
        apply.logits = &logits_;
        apply.rows = [this](absl::Span<const uint8_t> slice, absl::Span<const float> rows) {
          return scorer_->Add(slice, rows);
        };
        return apply;
      }
      if (input_.empty()) {
        AfterInput();
        return Next();
      }
      apply.mode =
          spec_.has_top_k() || spec_.has_sample() ? LogitsMode::kLast : LogitsMode::kNone;
      apply.logits = &logits_;
      return apply;
    }
    case Phase::kSampling: {
      if (next_index_ >= spec_.sample().max_tokens()) {
        Finish(absl::OkStatus());
        return std::nullopt;
      }
      if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed)) {
        out_.finish_reason = v1::FINISH_REASON_CANCELLED;
        Finish(absl::OkStatus());
        return std::nullopt;
      }
      // The draw depends on (seed, pulse id of the position being sampled).
      choice_ = SampleToken(logits_, sampling_, out_.pulse_id);
      token_ = static_cast<uint8_t>(choice_.token);
      // From the same logits, before applying the token replaces them.
      alternatives_.clear();
      if (spec_.sample().top_k_alternatives() > 0) {
        alternatives_ = TopK(logits_, spec_.sample().top_k_alternatives());
      }
      Apply apply;
      apply.tokens = absl::MakeConstSpan(&token_, 1);
      apply.mode = LogitsMode::kLast;
      apply.logits = &logits_;
      apply.generated = true;
      return apply;
    }
    case Phase::kAfterInput:
    case Phase::kDone:
      return std::nullopt;
  }
  return std::nullopt;
}

void ChunkProgram::Applied(const absl::StatusOr<uint64_t>& pulse, absl::Duration forward_time) {
  out_.forward_time += forward_time;
  if (phase_ == Phase::kInput) {
    if (!pulse.ok()) return Finish(pulse.status());
    out_.pulse_id = *pulse;
    return AfterInput();
  }
  if (phase_ != Phase::kSampling) return;
  if (!pulse.ok()) {
    if (absl::IsCancelled(pulse.status())) {
      out_.finish_reason = v1::FINISH_REASON_CANCELLED;
      return Finish(absl::OkStatus());
    }
    return Finish(pulse.status());
  }
  out_.pulse_id = *pulse;
  const absl::Time now = absl::Now();
  if (next_index_ == 0) {
    out_.first_token_latency = now - start_;
  } else {
    out_.inter_token.push_back(now - last_token_);
  }
  last_token_ = now;
  ++out_.generated_tokens;
  sink_(GeneratedTokenEvent{choice_.token, choice_.logprob, next_index_, out_.pulse_id,
                            std::move(alternatives_)});
  ++next_index_;
  // Both matchers see every token, so the sequence tail stays exact.
  const bool stop_sequence = stop_sequences_->Add(token_).has_value();
  if (is_stop_[token_]) {
    out_.finish_reason = v1::FINISH_REASON_STOP_BYTE;
    return Finish(absl::OkStatus());
  }
  if (stop_sequence) {
    out_.finish_reason = v1::FINISH_REASON_STOP_SEQUENCE;
    return Finish(absl::OkStatus());
  }
}

void ChunkProgram::AfterInput() {
  if (scorer_.has_value()) {
    out_.score = scorer_->scores();
    return Finish(absl::OkStatus());
  }
  if (spec_.has_top_k()) {
    out_.top_k = TopK(logits_, spec_.top_k().k());
    return Finish(absl::OkStatus());
  }
  if (!spec_.has_sample()) return Finish(absl::OkStatus());
  const v1::SamplingParams& params = spec_.sample();
  sampling_ = ToSamplingOptions(params);
  for (unsigned char c : params.stop_bytes()) is_stop_[c] = true;
  stop_sequences_.emplace(
      std::vector<std::string>(params.stop_sequences().begin(), params.stop_sequences().end()));
  out_.finish_reason = v1::FINISH_REASON_MAX_TOKENS;
  last_token_ = start_;
  phase_ = Phase::kSampling;
}

void ChunkProgram::Finish(absl::Status status) {
  phase_ = Phase::kDone;
  finished_ = true;
  status_ = std::move(status);
}

absl::StatusOr<ChunkOutcome> ChunkProgram::TakeOutcome() {
  if (!finished_) return absl::FailedPreconditionError("the chunk program has not finished");
  if (!status_.ok()) return status_;
  return std::move(out_);
}

}  // namespace hecate

#include "server/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hecate {

absl::Status ValidateRequestId(absl::string_view id, const ServiceLimits& limits) {
  if (static_cast<int>(id.size()) > limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id is ", id.size(),
                                                   " bytes, limit ", limits.max_request_id_bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateChunk(absl::string_view bytes, const ServiceLimits& limits,
                           absl::string_view field) {
  if (static_cast<int64_t>(bytes.size()) > limits.max_chunk_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", bytes.size(),
                                                   " bytes, limit --max_chunk_bytes=",
                                                   limits.max_chunk_bytes));
  }
  return absl::OkStatus();
}

SamplingOptions ToSamplingOptions(const v1::SamplingParams& p) {
  SamplingOptions o;
  o.temperature = p.temperature();
  o.top_k = p.top_k();
  // 0 and 1 both mean "no nucleus cut".
  o.top_p = p.top_p() == 0.0f ? 1.0f : p.top_p();
  o.seed = p.seed();
  return o;
}

absl::Status ValidateSampling(const v1::SamplingParams& p, const ServiceLimits& limits) {
  if (p.max_tokens() < 1 || p.max_tokens() > limits.max_generate_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("max_tokens must be in 1..",
                                                   limits.max_generate_tokens,
                                                   " (--max_generate_tokens), got ", p.max_tokens()));
  }
  if (static_cast<int>(p.stop_bytes().size()) > limits.max_stop_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("stop_bytes has ", p.stop_bytes().size(), " bytes, limit ", limits.max_stop_bytes));
  }
  if (p.stop_sequences_size() > limits.max_stop_sequences) {
    return absl::InvalidArgumentError(absl::StrCat("stop_sequences has ",
                                                   p.stop_sequences_size(), " sequences, limit ",
                                                   limits.max_stop_sequences));
  }
  for (int i = 0; i < p.stop_sequences_size(); ++i) {
    const size_t size = p.stop_sequences(i).size();
    if (size < 1 || static_cast<int>(size) > limits.max_stop_sequence_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop_sequences[", i, "] is ", size, " bytes, must be 1..",
                       limits.max_stop_sequence_bytes));
    }
  }
  if (p.top_k_alternatives() < 0 || p.top_k_alternatives() > limits.max_top_k_alternatives) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k_alternatives must be in 0..", limits.max_top_k_alternatives,
                     ", got ", p.top_k_alternatives()));
  }
  return ValidateSamplingOptions(ToSamplingOptions(p), 256);
}

absl::Status ValidateOutputSpec(const v1::OutputSpec& spec, const ServiceLimits& limits) {
  switch (spec.kind_case()) {
    case v1::OutputSpec::KIND_NOT_SET:
    case v1::OutputSpec::kNone:
      return absl::OkStatus();
    case v1::OutputSpec::kTopK:
      if (spec.top_k().k() < 1 || spec.top_k().k() > 256) {
        return absl::InvalidArgumentError(
            absl::StrCat("output.top_k.k must be in 1..256, got ", spec.top_k().k()));
      }
      return absl::OkStatus();
    case v1::OutputSpec::kSample:
      return ValidateSampling(spec.sample(), limits);
    case v1::OutputSpec::kScore:
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("output: unknown kind");
}

}  // namespace hecate

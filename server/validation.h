// Validation of client requests at the service edge. Every check names the
// field and the limit; a request that fails changes nothing. (Session ids and
// checkpoint names are validated by the SessionStore.)
#ifndef HECATE_SERVER_VALIDATION_H_
#define HECATE_SERVER_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/sampler.h"

namespace hecate {

struct ServiceLimits {
  int64_t max_chunk_bytes = 1 << 20;
  int max_generate_tokens = 4096;
  int max_inflight_per_stream = 64;
  int max_request_id_bytes = 128;
  int max_stop_bytes = 256;
};

absl::Status ValidateRequestId(absl::string_view id, const ServiceLimits& limits);

absl::Status ValidateChunk(absl::string_view bytes, const ServiceLimits& limits,
                           absl::string_view field = "input");

// Checks a SamplingParams message against the limits.
absl::Status ValidateSampling(const v1::SamplingParams& params, const ServiceLimits& limits);

// The sampler's options for a (validated) SamplingParams.
SamplingOptions ToSamplingOptions(const v1::SamplingParams& params);

// Checks what a StreamRequest asks for (RunChunk then refuses an empty chunk
// with top-k, a continuation or a score).
absl::Status ValidateOutputSpec(const v1::OutputSpec& spec, const ServiceLimits& limits);

}  // namespace hecate

#endif  // HECATE_SERVER_VALIDATION_H_

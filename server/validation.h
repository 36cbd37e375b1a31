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
  int max_stop_sequences = 16;
  int max_stop_sequence_bytes = 64;
  int max_top_k_alternatives = 20;
  // Backpressure on Stream: past either many replies queued for a client that
  // is not reading them, the stream stops reading its requests until the
  // replies drain (server/write_queue.h).
  int max_queued_replies_per_stream = 1024;
  int64_t max_queued_reply_bytes_per_stream = int64_t{4} << 20;
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

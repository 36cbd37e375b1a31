// RunChunk: one chunk request (chunk_program.h) run to the end on the
// calling thread against a session the caller holds exclusively: apply the
// input chunk, then answer what the request asked for (nothing, the top-k
// next tokens, the log-likelihood of the chunk's own bytes, or a sampled
// continuation whose tokens are applied one by one and handed to a sink as
// they are made). The daemon schedules programs on its engine loop instead
// (engine_loop.h); this runs the same program where no scheduler is wanted.
//
// It knows nothing of gRPC or of how sessions are stored: the caller passes
// `apply`, which advances the held session atomically (SessionStore's lease).
#ifndef HECATE_SERVER_CHUNK_RUNNER_H_
#define HECATE_SERVER_CHUNK_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/backend.h"
#include "server/chunk_program.h"

namespace hecate {

// Advances the held session by `tokens`, all or nothing, and returns the
// pulse id reached. kNone and kLast fill `logits` as Backend::Forward does;
// kAll hands every token's logits to `rows` instead, a slice at a time (a
// long chunk never holds [T, V] floats at once), and leaves `logits` alone.
using ApplyFn = std::function<absl::StatusOr<uint64_t>(
    absl::Span<const uint8_t> tokens, LogitsMode mode, std::vector<float>* logits,
    const LogitRowsSink& rows)>;

// Runs ChunkProgram::Start(start_pulse, start_logits, input, spec, cancel,
// sink) to the end on the calling thread, every apply through `apply`.
absl::StatusOr<ChunkOutcome> RunChunk(const ApplyFn& apply, uint64_t start_pulse,
                                      absl::Span<const float> start_logits,
                                      absl::string_view input, const v1::OutputSpec& spec,
                                      const std::atomic<bool>* cancel, const TokenSink& sink);

}  // namespace hecate

#endif  // HECATE_SERVER_CHUNK_RUNNER_H_

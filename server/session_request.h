// RunSessionRequest: one chunk request against a stored session, shared by
// Stream and Generate: claims the session (one writer), runs RunChunk with
// the store's whole-or-nothing ApplyChunk, and records the chunk's metrics
// (forward time, time to first token, inter-token latency, tokens in/out).
#ifndef HECATE_SERVER_SESSION_REQUEST_H_
#define HECATE_SERVER_SESSION_REQUEST_H_

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/chunk_runner.h"
#include "server/service_context.h"

namespace hecate {

absl::StatusOr<ChunkOutcome> RunSessionRequest(ServiceContext& context, absl::string_view user,
                                               absl::string_view session_id,
                                               absl::string_view input,
                                               const v1::OutputSpec& spec,
                                               const std::atomic<bool>* cancel,
                                               const TokenSink& sink);

// ChunkDone for an outcome.
v1::ChunkDone ToChunkDone(const ChunkOutcome& outcome);

}  // namespace hecate

#endif  // HECATE_SERVER_SESSION_REQUEST_H_

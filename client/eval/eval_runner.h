// RunEval: how well the served model predicts a text, for `hecatectl eval`.
//
// Every chunk is sent with score output (hecate.v1 ScoreRequest): the server
// returns the log-likelihood of the chunk's own bytes, each conditioned on
// everything the session saw before it. Two ways to cut the text:
//   * carried (window 0): one fresh session reads the whole text in chunks
//     of `chunk_bytes`, up to kChunksInFlight at a time on one Stream; the
//     session keeps its state and its next-byte distribution across chunks,
//     so every byte after the first is scored with all the text before it.
//     The input is read as it is sent (a pipe works).
//   * windows (window N > 0): eval_windows.h; each window goes through a
//     fresh session (created, scored, deleted), `sessions` windows at a time,
//     each worker on its own Stream. The whole input is read first.
// Every session is deleted at the end, also after a failure. The first
// failed call ends the run and is returned.
#ifndef HECATE_CLIENT_EVAL_EVAL_RUNNER_H_
#define HECATE_CLIENT_EVAL_EVAL_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/hecate_client.h"

namespace hecate {

struct EvalOptions {
  // Bytes per Stream request; at most the server's --max_chunk_bytes.
  size_t chunk_bytes = 65536;
  // 0: carried; N > 0: fresh windows of N.
  size_t window = 0;
  // Windows in flight at once (each its own session and Stream).
  int sessions = 16;
  // Ask for every scored byte's log-probability (EvalReport::byte_logprobs).
  bool per_byte = false;
};

// INVALID_ARGUMENT naming the field: chunk_bytes >= 1, sessions in 1..1024.
absl::Status ValidateEvalOptions(const EvalOptions& options);

struct EvalReport {
  uint64_t bytes = 0;         // of the input
  int64_t scored_bytes = 0;   // every byte after the first, normally
  double sum_logprob = 0.0;   // natural log, <= 0
  uint64_t tokens_sent = 0;   // bytes streamed (windows overlap by one byte)
  double wall_seconds = 0.0;
  // With per_byte: [i] is log P(byte i + 1); NaN for a byte not scored.
  std::vector<float> byte_logprobs;

  double nats_per_byte() const;  // -sum_logprob / scored_bytes
  double bits_per_byte() const;  // nats_per_byte / ln 2
  double tokens_per_second() const;
};

// Reads the text from `fd` (not closed). A text of fewer than two bytes has
// nothing to score: INVALID_ARGUMENT. A failed call's status is returned as
// is.
absl::StatusOr<EvalReport> RunEval(HecateClient& client, int fd, const EvalOptions& options);

// "OFFSET LOGPROB" per scored byte, one line each, offsets from 0 (byte 0 is
// never scored).
std::string FormatByteLogprobs(const std::vector<float>& byte_logprobs);

}  // namespace hecate

#endif  // HECATE_CLIENT_EVAL_EVAL_RUNNER_H_

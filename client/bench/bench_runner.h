// RunBench: many concurrent sessions streaming or generating through
// hecated, for `hecatectl bench`.
//
// Each of `sessions` workers creates a fresh session and, after every worker
// is ready, works one request at a time (the next only after the previous
// one's final response):
//  - stream mode: sends chunks of `chunk_bytes` on its own Stream, timing
//    each chunk from Send to its final response;
//  - generate mode: calls Generate with a `chunk_bytes` prompt and
//    `max_tokens` to sample, timing the first token (from the call) and each
//    gap between consecutive tokens (inter-token latency), and the call.
// The run ends when `duration` has passed or, when `tokens` > 0, once that
// many tokens have been sent (stream) or asked for (generate) in total; with
// `requests_per_session` > 0 each worker also stops after that many requests
// (prefill: one chunk of B bytes on each of K sessions is sessions = K,
// chunk_bytes = B, requests_per_session = 1).
// Every session is deleted at the end. Failures are counted by status code,
// never fatal: a per-request error lets the worker continue; a stream that
// ends stops it.
#ifndef HECATE_CLIENT_BENCH_BENCH_RUNNER_H_
#define HECATE_CLIENT_BENCH_BENCH_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/bench/latency_stats.h"
#include "client/hecate_client.h"

namespace hecate {

struct BenchOptions {
  enum class Mode { kStream, kGenerate };
  Mode mode = Mode::kStream;
  int sessions = 64;
  size_t chunk_bytes = 4096;
  // Used when `tokens` is 0.
  absl::Duration duration = absl::Seconds(60);
  // > 0: stop after this many input bytes (stream) or generated tokens
  // (generate) over all sessions.
  int64_t tokens = 0;
  // > 0: each session sends at most this many chunks (stream) or Generate
  // calls (generate), then stops.
  int64_t requests_per_session = 0;
  // Generate mode: tokens each Generate call samples (greedy: the same work
  // whatever the text).
  int max_tokens = 64;
  // Generate mode: before the timed run, session i takes an untimed prompt
  // of (37 i mod spread_pulses) bytes, so the sessions decode at different
  // phases of the slow levels (their fires do not all land in one step), as
  // independent users' sessions do and as engine_step_bench's do; 0: every
  // session starts at pulse 0 and they decode in lockstep.
  int spread_pulses = 512;
  // Called once every session is ready (created, spread), just before the
  // timed run starts; it may block. For a caller that measures the server
  // around the timed run alone (hecatectl bench --ready_file).
  std::function<void()> before_timed_run;
  // > 0: ask for the top-k next-token distribution after every chunk.
  int top_k = 0;
  // Text to stream (each session starts at a different offset); empty: the
  // built-in pseudo-text, seeded per session from `seed`.
  std::string text;
  uint64_t seed = 1;
};

// INVALID_ARGUMENT naming the field: sessions in 1..10000, chunk_bytes >= 1,
// duration > 0 (when tokens is 0), tokens >= 0, requests_per_session >= 0,
// top_k in 0..256, max_tokens in 1..65536.
absl::Status ValidateBenchOptions(const BenchOptions& options);

struct BenchReport {
  int sessions = 0;
  size_t chunk_bytes = 0;
  // From the moment every worker was ready to the last chunk's response.
  double wall_seconds = 0;
  bool generate = false;
  uint64_t chunks = 0;  // successful chunks (stream) or Generate calls (generate)
  uint64_t tokens = 0;  // input bytes of successful chunks or prompts
  uint64_t generated_tokens = 0;
  LatencyStats::Summary latency;      // per chunk or per Generate call
  LatencyStats::Summary first_token;  // generate: call to its first token
  LatencyStats::Summary inter_token;  // generate: between consecutive tokens
  // Failed calls (create, stream, delete) by code name ("NOT_FOUND").
  std::map<std::string, int64_t> errors_by_code;
  // The first failure, "phase: CODE: message", to show what went wrong.
  std::string first_error;

  int64_t error_count() const;
  double chunks_per_second() const;
  double tokens_per_second() const;
  double generated_tokens_per_second() const;
};

BenchReport RunBench(HecateClient& client, const BenchOptions& options);

}  // namespace hecate

#endif  // HECATE_CLIENT_BENCH_BENCH_RUNNER_H_

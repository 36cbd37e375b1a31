// RunBench: many concurrent sessions streaming chunks through hecated, for
// `hecatectl bench`.
//
// Each of `sessions` workers creates a fresh session, opens its own Stream and,
// after every worker is ready, sends one chunk at a time (the next only after
// the previous one's final response), timing each chunk from Send to its
// final response. The run ends when `duration` has passed or, when `tokens`
// > 0, once that many input bytes have been sent in total. Every session is
// deleted at the end. Failures are counted by status code, never fatal: a
// per-request error lets the worker continue; a stream that ends stops it.
#ifndef HECATE_CLIENT_BENCH_BENCH_RUNNER_H_
#define HECATE_CLIENT_BENCH_BENCH_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/bench/latency_stats.h"
#include "client/hecate_client.h"

namespace hecate {

struct BenchOptions {
  int sessions = 64;
  size_t chunk_bytes = 4096;
  // Used when `tokens` is 0.
  absl::Duration duration = absl::Seconds(60);
  // > 0: stop after this many input bytes (tokens) over all sessions.
  int64_t tokens = 0;
  // > 0: ask for the top-k next-token distribution after every chunk.
  int top_k = 0;
  // Text to stream (each session starts at a different offset); empty: the
  // built-in pseudo-text, seeded per session from `seed`.
  std::string text;
  uint64_t seed = 1;
};

// INVALID_ARGUMENT naming the field: sessions in 1..10000, chunk_bytes >= 1,
// duration > 0 (when tokens is 0), tokens >= 0, top_k in 0..256.
absl::Status ValidateBenchOptions(const BenchOptions& options);

struct BenchReport {
  int sessions = 0;
  size_t chunk_bytes = 0;
  // From the moment every worker was ready to the last chunk's response.
  double wall_seconds = 0;
  uint64_t chunks = 0;  // successful chunks
  uint64_t tokens = 0;  // input bytes of successful chunks
  LatencyStats::Summary latency;
  // Failed calls (create, stream, delete) by code name ("NOT_FOUND").
  std::map<std::string, int64_t> errors_by_code;
  // The first failure, "phase: CODE: message", to show what went wrong.
  std::string first_error;

  int64_t error_count() const;
  double chunks_per_second() const;
  double tokens_per_second() const;
};

BenchReport RunBench(HecateClient& client, const BenchOptions& options);

}  // namespace hecate

#endif  // HECATE_CLIENT_BENCH_BENCH_RUNNER_H_

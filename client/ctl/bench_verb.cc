// hecatectl bench: concurrent sessions streaming text or generating;
// throughput and latency (per chunk, or time to first token and inter-token).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "client/bench/bench_runner.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/output.h"
#include "client/ctl/shared_flags.h"
#include "client/ctl/verb.h"
#include "client/file_io.h"

ABSL_DECLARE_FLAG(int32_t, max_tokens);  // generate_verb.cc: tokens per Generate call

ABSL_FLAG(std::string, mode, "stream",
          "bench: stream (chunks of --chunk_bytes on a Stream) or generate (Generate calls: a "
          "--chunk_bytes prompt, then --max_tokens greedy tokens)");
ABSL_FLAG(int32_t, sessions, 64, "bench: concurrent sessions, each with its own Stream");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(60),
          "bench: how long to stream (ignored when --tokens is given)");
ABSL_FLAG(int64_t, tokens, 0,
          "bench: stop after this many input tokens (stream) or generated tokens (generate) "
          "over all sessions");
ABSL_FLAG(int64_t, requests_per_session, 0,
          "bench: each session stops after this many chunks (stream) or Generate calls "
          "(generate); 0: no limit. Prefill of one B-byte chunk on K sessions: --sessions=K "
          "--chunk_bytes=B --requests_per_session=1");
ABSL_FLAG(int32_t, spread_pulses, 512,
          "bench generate: session i first takes an untimed (37 i mod N)-byte prompt, so "
          "sessions decode at different phases of the slow levels as independent users' do; "
          "0: all start at pulse 0 and decode in lockstep");
ABSL_FLAG(std::string, ready_file, "",
          "bench: once every session is ready, write this file and start the timed run when "
          "it is removed (at most 60 s later): a script can scrape the server's /metrics "
          "around the timed run alone");
ABSL_FLAG(std::string, text, "",
          "bench: stream this file's text (each session from its own offset); default: "
          "built-in pseudo-English");

namespace hecate {
namespace {

std::string Milliseconds(double seconds) { return absl::StrFormat("%.2f ms", seconds * 1e3); }

nlohmann::json SummaryToJson(const LatencyStats::Summary& summary) {
  return nlohmann::json{{"count", summary.count}, {"mean", summary.mean}, {"p50", summary.p50},
                        {"p90", summary.p90},     {"p99", summary.p99},   {"max", summary.max}};
}

nlohmann::json ReportToJson(const BenchReport& report, const BenchOptions& options) {
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [code, count] : report.errors_by_code) errors[code] = count;
  nlohmann::json json{
      {"mode", report.generate ? "generate" : "stream"},
      {"sessions", report.sessions},
      {"chunk_bytes", report.chunk_bytes},
      {"top_k", options.top_k},
      {"requests_per_session", options.requests_per_session},
      {"wall_seconds", report.wall_seconds},
      {"chunks", report.chunks},
      {"tokens", report.tokens},
      {"chunks_per_second", report.chunks_per_second()},
      {"tokens_per_second", report.tokens_per_second()},
      {"latency_seconds", SummaryToJson(report.latency)},
      {"errors", errors},
      {"first_error", report.first_error},
  };
  if (report.generate) {
    json["max_tokens"] = options.max_tokens;
    json["spread_pulses"] = options.spread_pulses;
    json["generated_tokens"] = report.generated_tokens;
    json["generated_tokens_per_second"] = report.generated_tokens_per_second();
    json["first_token_seconds"] = SummaryToJson(report.first_token);
    json["inter_token_seconds"] = SummaryToJson(report.inter_token);
  }
  return json;
}

std::string Percentiles(const LatencyStats::Summary& summary) {
  return absl::StrCat("p50 ", Milliseconds(summary.p50), "  p90 ", Milliseconds(summary.p90),
                      "  p99 ", Milliseconds(summary.p99), "  max ", Milliseconds(summary.max),
                      "  (mean ", Milliseconds(summary.mean), ")\n");
}

std::string ReportToText(const BenchReport& report, int top_k) {
  if (report.generate) {
    std::string text = absl::StrFormat(
        "bench (generate): %d sessions, %d-byte prompts, %.1f s\n", report.sessions,
        report.chunk_bytes, report.wall_seconds);
    absl::StrAppendFormat(&text, "calls:        %d ok, %d failed\n", report.chunks,
                          report.error_count());
    absl::StrAppendFormat(&text, "throughput:   %.0f generated tokens/s (%d tokens)\n",
                          report.generated_tokens_per_second(), report.generated_tokens);
    absl::StrAppend(&text, "first token:  ", Percentiles(report.first_token));
    absl::StrAppend(&text, "inter-token:  ", Percentiles(report.inter_token));
    absl::StrAppend(&text, "whole call:   ", Percentiles(report.latency));
    return text;
  }
  std::string text = absl::StrFormat("bench: %d sessions, %d-byte chunks%s, %.1f s\n",
                                     report.sessions, report.chunk_bytes,
                                     top_k > 0 ? absl::StrCat(", top-", top_k) : "",
                                     report.wall_seconds);
  absl::StrAppendFormat(&text, "chunks:      %d ok, %d failed\n", report.chunks,
                        report.error_count());
  absl::StrAppendFormat(&text, "throughput:  %.1f chunks/s, %.0f tokens/s\n",
                        report.chunks_per_second(), report.tokens_per_second());
  absl::StrAppend(&text, "latency:     ", Percentiles(report.latency));
  return text;
}

// "NOT_FOUND 3, UNAVAILABLE 1", most frequent first.
std::string ErrorCounts(const BenchReport& report) {
  std::vector<std::pair<std::string, int64_t>> counts(report.errors_by_code.begin(),
                                                      report.errors_by_code.end());
  std::stable_sort(counts.begin(), counts.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return absl::StrJoin(counts, ", ", [](std::string* out, const auto& entry) {
    absl::StrAppend(out, entry.first, " ", entry.second);
  });
}

absl::StatusCode CodeNamed(const std::string& name) {
  for (int code = 1; code <= 16; ++code) {
    if (absl::StatusCodeToString(static_cast<absl::StatusCode>(code)) == name) {
      return static_cast<absl::StatusCode>(code);
    }
  }
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status RunBench(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("bench", args, 0, 0, ""));
  HECATE_ASSIGN_OR_RETURN(size_t chunk_bytes, ChunkBytesValue(absl::GetFlag(FLAGS_chunk_bytes)));
  BenchOptions options;
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "stream" && mode != "generate") {
    return UsageError(absl::StrCat("bench: --mode must be stream or generate, got ", mode));
  }
  options.mode = mode == "generate" ? BenchOptions::Mode::kGenerate : BenchOptions::Mode::kStream;
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  options.spread_pulses = absl::GetFlag(FLAGS_spread_pulses);
  options.sessions = absl::GetFlag(FLAGS_sessions);
  options.chunk_bytes = chunk_bytes;
  options.duration = absl::GetFlag(FLAGS_duration);
  options.tokens = absl::GetFlag(FLAGS_tokens);
  options.top_k = absl::GetFlag(FLAGS_top_k);
  options.requests_per_session = absl::GetFlag(FLAGS_requests_per_session);
  options.seed = absl::GetFlag(FLAGS_seed);
  if (absl::Status valid = ValidateBenchOptions(options); !valid.ok()) {
    return UsageError(absl::StrCat("bench: ", valid.message()));
  }
  if (const std::string path = absl::GetFlag(FLAGS_text); !path.empty()) {
    HECATE_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    if (text.empty()) return UsageError(absl::StrCat("--text file ", path, " is empty"));
    options.text = std::move(text);
  }

  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    options.before_timed_run = [ready] {
      if (absl::Status written = WriteFileAtomically(ready, "ready\n"); !written.ok()) {
        std::fprintf(stderr, "bench: --ready_file: %s; starting without it\n",
                     written.ToString().c_str());
        return;
      }
      const absl::Time give_up = absl::Now() + absl::Seconds(60);
      while (access(ready.c_str(), F_OK) == 0 && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(5));
      }
    };
  }
  const BenchReport report = RunBench(*context.client, options);
  *context.out << (context.json ? DumpJson(ReportToJson(report, options)) + "\n"
                                : ReportToText(report, options.top_k));
  context.out->flush();
  if (report.error_count() == 0) return absl::OkStatus();
  // Exit 1 with the most frequent code, the counts and the first failure.
  const std::string counts = ErrorCounts(report);
  return absl::Status(CodeNamed(counts.substr(0, counts.find(' '))),
                      absl::StrCat("bench: ", report.error_count(), " failed calls (", counts,
                                   "); first: ", report.first_error));
}

}  // namespace hecate

// hecatectl eval [FILE|-]: how well the served model predicts a text.
#include <cmath>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/input_file.h"
#include "client/ctl/output.h"
#include "client/ctl/shared_flags.h"
#include "client/ctl/verb.h"
#include "client/eval/eval_runner.h"
#include "client/file_io.h"

ABSL_FLAG(int64_t, window, 0,
          "eval: score fresh windows of N bytes (each window in a new session, its first "
          "byte as context only); 0: one session carries its state through the whole text");
ABSL_FLAG(std::string, per_byte_out, "",
          "eval: also write every scored byte's log-probability to this file, one "
          "'OFFSET LOGPROB' line per byte");

namespace hecate {
namespace {

// eval's chunks are larger than stream's: a score costs no more per chunk.
constexpr int64_t kEvalChunkBytes = 65536;

nlohmann::json ReportToJson(const EvalReport& report, const EvalOptions& options) {
  return nlohmann::json{
      {"bytes", report.bytes},
      {"scored_bytes", report.scored_bytes},
      {"sum_logprob", report.sum_logprob},
      {"nats_per_byte", report.nats_per_byte()},
      {"bits_per_byte", report.bits_per_byte()},
      {"mode", options.window == 0 ? "carried" : "windows"},
      {"window", options.window},
      {"chunk_bytes", options.chunk_bytes},
      {"tokens", report.tokens_sent},
      {"wall_seconds", report.wall_seconds},
      {"tokens_per_second", report.tokens_per_second()},
  };
}

std::string ReportToText(const EvalReport& report, const EvalOptions& options) {
  return absl::StrFormat(
      "eval: %d bytes, %d scored, %.4f nats/byte, %.4f bits/byte, %s, %.1f s, %.0f tokens/s\n",
      report.bytes, report.scored_bytes, report.nats_per_byte(), report.bits_per_byte(),
      options.window == 0 ? "session state carried"
                          : absl::StrCat("fresh windows of ", options.window),
      report.wall_seconds, report.tokens_per_second());
}

}  // namespace

absl::Status RunEval(VerbContext& context, absl::Span<const std::string> args) {
  if (absl::Status status = ExpectArguments("eval", args, 0, 1, "[FILE|-]"); !status.ok()) {
    return status;
  }
  const bool chunk_bytes_given =
      context.flags_given != nullptr && context.flags_given->count("chunk_bytes") > 0;
  HECATE_ASSIGN_OR_RETURN(
      size_t chunk_bytes,
      ChunkBytesValue(chunk_bytes_given ? absl::GetFlag(FLAGS_chunk_bytes) : kEvalChunkBytes));
  const int64_t window = absl::GetFlag(FLAGS_window);
  if (window < 0) return UsageError(absl::StrCat("--window must be >= 0, got ", window));
  const std::string per_byte_out = absl::GetFlag(FLAGS_per_byte_out);
  EvalOptions options;
  options.chunk_bytes = chunk_bytes;
  options.window = static_cast<size_t>(window);
  options.per_byte = !per_byte_out.empty();
  InputFile input;
  if (absl::Status status = input.Open(args.empty() ? "" : args[0]); !status.ok()) {
    return status;
  }

  HECATE_ASSIGN_OR_RETURN(EvalReport report, RunEval(*context.client, input.fd(), options));
  if (options.per_byte) {
    absl::Status written =
        WriteFileAtomically(per_byte_out, FormatByteLogprobs(report.byte_logprobs));
    if (!written.ok()) return written;
  }
  *context.out << (context.json ? DumpJson(ReportToJson(report, options)) + "\n"
                                : ReportToText(report, options));
  context.out->flush();
  return absl::OkStatus();
}

}  // namespace hecate

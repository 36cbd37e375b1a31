#include "client/eval/eval_runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "base/status_macros.h"
#include "client/chunker.h"
#include "client/eval/eval_windows.h"
#include "client/grpc_status.h"

namespace hecate {
namespace {

// Chunks sent ahead of the one being waited for, per Stream: enough to keep
// the server busy between chunks, far below --max_inflight_per_stream.
constexpr size_t kChunksInFlight = 4;
constexpr int kMaxSessions = 1024;
// How much of a window-mode input is read at a time.
constexpr size_t kReadBytes = size_t{1} << 20;

constexpr float kNotScored = std::numeric_limits<float>::quiet_NaN();

using NextChunkFn = std::function<absl::StatusOr<absl::optional<std::string>>()>;

// The final response to `request_id`: its score, or its error.
absl::StatusOr<v1::ChunkScore> AwaitScore(StreamSession& stream, const std::string& request_id) {
  while (true) {
    HECATE_ASSIGN_OR_RETURN(v1::StreamResponse response, stream.ReadFor(request_id));
    if (response.has_error()) return FromRequestError(response.error());
    if (!response.has_done()) continue;
    if (!response.done().has_score()) {
      return absl::InternalError(
          "the server answered a score request without a score (a server older than "
          "hecate.v1 ChunkScore?)");
    }
    return response.done().score();
  }
}

// Adds one chunk's score to `report` and its per-byte values to
// `byte_logprobs` (grown as needed); `offset` is the chunk's first byte in
// the text, `fresh` whether it is the first chunk of a fresh session.
absl::Status AddScore(const v1::ChunkScore& score, size_t offset, size_t length, bool fresh,
                      bool per_byte, EvalReport* report, std::vector<float>* byte_logprobs) {
  if (fresh && score.first_byte_scored()) {
    return absl::InternalError("the server scored the first byte of a fresh session");
  }
  const int64_t expected = static_cast<int64_t>(length) - (score.first_byte_scored() ? 0 : 1);
  if (score.scored_bytes() != expected ||
      (per_byte && score.byte_logprobs_size() != score.scored_bytes())) {
    return absl::InternalError(absl::StrCat(
        "the server scored ", score.scored_bytes(), " bytes of a ", length,
        "-byte chunk (first byte scored: ", score.first_byte_scored() ? "yes" : "no", ") with ",
        score.byte_logprobs_size(), " per-byte values"));
  }
  report->sum_logprob += score.sum_logprob();
  report->scored_bytes += score.scored_bytes();
  if (per_byte && length > 0) {
    // Index i holds byte i + 1: byte 0 of a text is never scored.
    const size_t first = offset + (score.first_byte_scored() ? 0 : 1);
    if (byte_logprobs->size() < offset + length - 1) {
      byte_logprobs->resize(offset + length - 1, kNotScored);
    }
    for (int i = 0; i < score.byte_logprobs_size(); ++i) {
      (*byte_logprobs)[first + i - 1] = score.byte_logprobs(i);
    }
  }
  return absl::OkStatus();
}

// Streams what `next_chunk` yields through the fresh session `session_id`,
// kChunksInFlight at a time, adding the scores to `report`. `base` is the
// first chunk's offset in the text.
absl::Status ScoreChunks(StreamSession& stream, const std::string& session_id, size_t base,
                         const NextChunkFn& next_chunk, bool per_byte, EvalReport* report,
                         std::vector<float>* byte_logprobs) {
  struct Sent {
    std::string request_id;
    size_t offset;
    size_t length;
  };
  std::deque<Sent> in_flight;
  size_t offset = base;
  bool at_end = false;
  while (true) {
    while (!at_end && in_flight.size() < kChunksInFlight) {
      HECATE_ASSIGN_OR_RETURN(absl::optional<std::string> chunk, next_chunk());
      if (!chunk.has_value()) {
        at_end = true;
        break;
      }
      v1::StreamRequest request;
      request.set_request_id(stream.NextRequestId());
      request.set_session_id(session_id);
      request.set_input(*std::move(chunk));
      request.mutable_output()->mutable_score()->set_per_byte(per_byte);
      HECATE_RETURN_IF_ERROR(stream.Send(request));
      in_flight.push_back({request.request_id(), offset, request.input().size()});
      offset += request.input().size();
      report->tokens_sent += request.input().size();
    }
    if (in_flight.empty()) return absl::OkStatus();
    const Sent done = std::move(in_flight.front());
    in_flight.pop_front();
    HECATE_ASSIGN_OR_RETURN(v1::ChunkScore score, AwaitScore(stream, done.request_id));
    absl::Status added = AddScore(score, done.offset, done.length, done.offset == base,
                                  per_byte, report, byte_logprobs);
    if (!added.ok()) return added;
  }
}

absl::Status TooShort(uint64_t bytes) {
  return absl::InvalidArgumentError(
      absl::StrCat("eval: the input has ", bytes, " byte", bytes == 1 ? "" : "s",
                   "; scoring needs at least 2 (a fresh session's first byte is context only)"));
}

absl::StatusOr<EvalReport> RunCarried(HecateClient& client, int fd, const EvalOptions& options) {
  HECATE_ASSIGN_OR_RETURN(v1::Session session, client.CreateSession());
  EvalReport report;
  const absl::Time start = absl::Now();
  absl::Status status = absl::OkStatus();
  absl::StatusOr<std::unique_ptr<StreamSession>> stream = client.OpenStreamFor(session.id());
  if (!stream.ok()) {
    status = stream.status();
  } else {
    ChunkReader reader(fd, options.chunk_bytes);
    status = ScoreChunks(**stream, session.id(), 0, [&] { return reader.Next(); },
                         options.per_byte, &report, &report.byte_logprobs);
    report.bytes = reader.bytes_read();
    if (!status.ok()) (*stream)->Cancel();
    absl::Status finished = (*stream)->Finish();
    if (status.ok()) status = finished;
  }
  report.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const absl::Status deleted = client.DeleteSession(session.id());
  if (!status.ok()) return status;
  if (!deleted.ok()) return deleted;
  if (report.bytes < 2) return TooShort(report.bytes);
  return report;
}

// One window through a session of its own, on a stream of its own (routed
// to the session's replica behind a proxy).
absl::Status ScoreWindow(HecateClient& client, absl::string_view text,
                         const EvalWindow& window, const EvalOptions& options,
                         EvalReport* report, std::vector<float>* byte_logprobs) {
  HECATE_ASSIGN_OR_RETURN(v1::Session session, client.CreateSession());
  absl::StatusOr<std::unique_ptr<StreamSession>> opened = client.OpenStreamFor(session.id());
  if (!opened.ok()) {
    (void)client.DeleteSession(session.id());
    return opened.status();
  }
  StreamSession& stream = **opened;
  size_t at = window.begin;
  const NextChunkFn next = [&]() -> absl::StatusOr<absl::optional<std::string>> {
    if (at >= window.end) return absl::optional<std::string>();
    const size_t length = std::min(options.chunk_bytes, window.end - at);
    std::string chunk(text.substr(at, length));
    at += length;
    return absl::optional<std::string>(std::move(chunk));
  };
  absl::Status status = ScoreChunks(stream, session.id(), window.begin, next,
                                    options.per_byte, report, byte_logprobs);
  if (!status.ok()) stream.Cancel();
  const absl::Status finished = stream.Finish();
  if (status.ok()) status = finished;
  const absl::Status deleted = client.DeleteSession(session.id());
  return status.ok() ? deleted : status;
}

absl::StatusOr<EvalReport> RunWindows(HecateClient& client, int fd, const EvalOptions& options) {
  std::string text;
  ChunkReader reader(fd, kReadBytes);
  while (true) {
    HECATE_ASSIGN_OR_RETURN(absl::optional<std::string> chunk, reader.Next());
    if (!chunk.has_value()) break;
    text += *chunk;
  }
  if (text.size() < 2) return TooShort(text.size());
  const std::vector<EvalWindow> windows = SplitEvalWindows(text.size(), options.window);
  EvalReport report;
  report.bytes = text.size();
  // Windows score disjoint bytes: workers write disjoint entries.
  if (options.per_byte) report.byte_logprobs.assign(text.size() - 1, kNotScored);

  std::atomic<size_t> next_window{0};
  std::atomic<bool> failed{false};
  absl::Mutex mu;
  absl::Status first_error;
  const absl::Time start = absl::Now();
  auto worker = [&] {
    EvalReport mine;
    absl::Status status = absl::OkStatus();
    while (status.ok() && !failed.load()) {
      const size_t k = next_window.fetch_add(1);
      if (k >= windows.size()) break;
      status = ScoreWindow(client, text, windows[k], options, &mine, &report.byte_logprobs);
    }
    absl::MutexLock lock(&mu);
    report.sum_logprob += mine.sum_logprob;
    report.scored_bytes += mine.scored_bytes;
    report.tokens_sent += mine.tokens_sent;
    if (!status.ok() && first_error.ok()) {
      first_error = status;
      failed.store(true);
    }
  };
  const size_t workers = std::min(windows.size(), static_cast<size_t>(options.sessions));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  report.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!first_error.ok()) return first_error;
  return report;
}

}  // namespace

absl::Status ValidateEvalOptions(const EvalOptions& options) {
  if (options.chunk_bytes < 1) {
    return absl::InvalidArgumentError("chunk_bytes must be at least 1");
  }
  if (options.sessions < 1 || options.sessions > kMaxSessions) {
    return absl::InvalidArgumentError(
        absl::StrCat("sessions must be in 1..", kMaxSessions, ", got ", options.sessions));
  }
  return absl::OkStatus();
}

double EvalReport::nats_per_byte() const {
  return scored_bytes > 0 ? -sum_logprob / static_cast<double>(scored_bytes) : 0.0;
}

double EvalReport::bits_per_byte() const { return nats_per_byte() / std::log(2.0); }

double EvalReport::tokens_per_second() const {
  return wall_seconds > 0 ? static_cast<double>(tokens_sent) / wall_seconds : 0.0;
}

absl::StatusOr<EvalReport> RunEval(HecateClient& client, int fd, const EvalOptions& options) {
  HECATE_RETURN_IF_ERROR(ValidateEvalOptions(options));
  return options.window == 0 ? RunCarried(client, fd, options)
                             : RunWindows(client, fd, options);
}

std::string FormatByteLogprobs(const std::vector<float>& byte_logprobs) {
  std::string text;
  for (size_t i = 0; i < byte_logprobs.size(); ++i) {
    if (std::isnan(byte_logprobs[i])) continue;
    absl::StrAppendFormat(&text, "%d %.9g\n", i + 1, byte_logprobs[i]);
  }
  return text;
}

}  // namespace hecate

#include "client/bench/bench_runner.h"

#include <atomic>
#include <limits>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/bench/text_source.h"
#include "client/grpc_status.h"

namespace hecate {
namespace {

constexpr int kMaxSessions = 10000;
constexpr int kMaxTopK = 256;
constexpr int kMaxGenerateTokens = 65536;

// What one worker measured.
struct WorkerTally {
  LatencyStats latencies;
  LatencyStats first_token;
  LatencyStats inter_token;
  uint64_t chunks = 0;
  uint64_t tokens = 0;
  uint64_t generated_tokens = 0;
  absl::Time last_done = absl::InfinitePast();
};

// State shared by the workers of one run.
class SharedRun {
 public:
  SharedRun(const BenchOptions& options) : options_(options), ready_(options.sessions) {}

  const BenchOptions& options() const { return options_; }
  absl::BlockingCounter& ready() { return ready_; }
  absl::Notification& go() { return go_; }

  void set_deadline(absl::Time deadline) {
    deadline_nanos_.store(absl::ToUnixNanos(deadline), std::memory_order_release);
  }

  // How many tokens the next request may send (stream: the chunk's bytes)
  // or ask for (generate: max_tokens): 0 means the run is over.
  size_t Claim() {
    const int64_t request = options_.mode == BenchOptions::Mode::kGenerate
                                ? options_.max_tokens
                                : static_cast<int64_t>(options_.chunk_bytes);
    if (options_.tokens <= 0) {
      const int64_t deadline = deadline_nanos_.load(std::memory_order_acquire);
      return absl::ToUnixNanos(absl::Now()) < deadline ? static_cast<size_t>(request) : 0;
    }
    const int64_t before = tokens_claimed_.fetch_add(request, std::memory_order_relaxed);
    if (before >= options_.tokens) return 0;
    return static_cast<size_t>(std::min(request, options_.tokens - before));
  }

  void RecordError(absl::string_view phase, const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    ++errors_by_code_[absl::StatusCodeToString(status.code())];
    if (first_error_.empty()) {
      first_error_ = absl::StrCat(phase, ": ", absl::StatusCodeToString(status.code()), ": ",
                                  status.message());
    }
  }

  void RecordWorker(const WorkerTally& tally) {
    absl::MutexLock lock(&mu_);
    total_.latencies.Merge(tally.latencies);
    total_.first_token.Merge(tally.first_token);
    total_.inter_token.Merge(tally.inter_token);
    total_.chunks += tally.chunks;
    total_.tokens += tally.tokens;
    total_.generated_tokens += tally.generated_tokens;
    if (tally.last_done > total_.last_done) total_.last_done = tally.last_done;
  }

  void Fill(BenchReport* report, absl::Time start) {
    absl::MutexLock lock(&mu_);
    report->chunks = total_.chunks;
    report->tokens = total_.tokens;
    report->generated_tokens = total_.generated_tokens;
    report->latency = total_.latencies.Summarize();
    report->first_token = total_.first_token.Summarize();
    report->inter_token = total_.inter_token.Summarize();
    report->errors_by_code = errors_by_code_;
    report->first_error = first_error_;
    const absl::Time end = total_.last_done > start ? total_.last_done : start;
    report->wall_seconds = absl::ToDoubleSeconds(end - start);
  }

 private:
  const BenchOptions options_;
  absl::BlockingCounter ready_;
  absl::Notification go_;
  // Set once all workers are ready; atomic so no reader depends on the
  // notification's ordering alone.
  std::atomic<int64_t> deadline_nanos_{std::numeric_limits<int64_t>::max()};
  std::atomic<int64_t> tokens_claimed_{0};

  absl::Mutex mu_;
  WorkerTally total_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> errors_by_code_ ABSL_GUARDED_BY(mu_);
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<TextSource> TextForWorker(const BenchOptions& options, int worker) {
  if (options.text.empty()) return MakePseudoText(options.seed + static_cast<uint64_t>(worker));
  const size_t start = options.text.size() / static_cast<size_t>(options.sessions) *
                       static_cast<size_t>(worker);
  return MakeCyclicText(options.text, start);
}

// Streams chunks until the run is over or the stream ends; false when the
// stream ended (already recorded as an error).
bool StreamChunks(SharedRun& run, StreamSession& stream, const std::string& session_id,
                  TextSource& text, WorkerTally* tally) {
  const BenchOptions& options = run.options();
  for (int64_t sent_requests = 0;; ++sent_requests) {
    if (options.requests_per_session > 0 && sent_requests >= options.requests_per_session) {
      return true;
    }
    const size_t bytes = run.Claim();
    if (bytes == 0) return true;
    v1::StreamRequest request;
    request.set_request_id(stream.NextRequestId());
    request.set_session_id(session_id);
    request.set_input(text.Next(bytes));
    if (options.top_k > 0) request.mutable_output()->mutable_top_k()->set_k(options.top_k);
    const absl::Time sent = absl::Now();
    absl::Status status = stream.Send(request);
    if (!status.ok()) {
      run.RecordError("stream", status);
      return false;
    }
    absl::StatusOr<v1::StreamResponse> response = stream.ReadFor(request.request_id());
    while (response.ok() && response->has_token()) {
      response = stream.ReadFor(request.request_id());
    }
    if (!response.ok()) {  // the stream has ended
      run.RecordError("stream", response.status());
      return false;
    }
    if (response->has_error()) {  // this chunk failed; the stream lives on
      run.RecordError("chunk", FromRequestError(response->error()));
      continue;
    }
    const absl::Time done = absl::Now();
    tally->latencies.Add(absl::ToDoubleSeconds(done - sent));
    tally->last_done = done;
    ++tally->chunks;
    tally->tokens += bytes;
  }
}

// Generates until the run is over: a prompt of chunk_bytes, then max_tokens
// greedy tokens (fixed work per call), each call timed as the issue's
// serving metrics are: time to the first token, then each inter-token gap.
void GenerateTurns(SharedRun& run, HecateClient& client, const std::string& session_id,
                   TextSource& text, WorkerTally* tally) {
  const BenchOptions& options = run.options();
  for (int64_t calls = 0;; ++calls) {
    if (options.requests_per_session > 0 && calls >= options.requests_per_session) return;
    const size_t max_tokens = run.Claim();
    if (max_tokens == 0) return;
    v1::GenerateRequest request;
    request.set_session_id(session_id);
    request.set_prompt(text.Next(options.chunk_bytes));
    request.mutable_sampling()->set_temperature(0);
    request.mutable_sampling()->set_max_tokens(static_cast<int32_t>(max_tokens));
    const absl::Time sent = absl::Now();
    absl::Time previous = sent;
    uint64_t generated = 0;
    absl::StatusOr<GenerateResult> result =
        client.GenerateOnCallbackThreads(request, [&](const v1::GeneratedToken&, uint64_t) {
          const absl::Time now = absl::Now();
          (generated == 0 ? tally->first_token : tally->inter_token)
              .Add(absl::ToDoubleSeconds(now - previous));
          previous = now;
          ++generated;
        });
    if (!result.ok()) {
      run.RecordError("generate", result.status());
      continue;
    }
    const absl::Time done = absl::Now();
    tally->latencies.Add(absl::ToDoubleSeconds(done - sent));
    tally->last_done = done;
    ++tally->chunks;
    tally->tokens += options.chunk_bytes;
    tally->generated_tokens += generated;
  }
}

// Generate mode's untimed prefix (BenchOptions::spread_pulses).
absl::Status SpreadPulse(HecateClient& client, const BenchOptions& options,
                         const std::string& session_id, int worker, TextSource& text) {
  if (options.spread_pulses <= 0) return absl::OkStatus();
  const int64_t bytes = (int64_t{37} * worker) % options.spread_pulses;
  if (bytes == 0) return absl::OkStatus();
  v1::GenerateRequest request;
  request.set_session_id(session_id);
  request.set_prompt(text.Next(static_cast<size_t>(bytes)));
  request.mutable_sampling()->set_temperature(0);
  request.mutable_sampling()->set_max_tokens(1);
  return client.Generate(request, [](const v1::GeneratedToken&, uint64_t) {}).status();
}

void RunWorker(HecateClient& client, SharedRun& run, int worker) {
  const bool generate = run.options().mode == BenchOptions::Mode::kGenerate;
  absl::StatusOr<v1::Session> session = client.CreateSession();
  std::unique_ptr<StreamSession> stream;
  std::unique_ptr<TextSource> text = TextForWorker(run.options(), worker);
  if (!session.ok()) {
    run.RecordError("create", session.status());
  } else if (generate) {
    if (absl::Status spread = SpreadPulse(client, run.options(), session->id(), worker, *text);
        !spread.ok()) {
      run.RecordError("spread", spread);
    }
  } else {
    absl::StatusOr<std::unique_ptr<StreamSession>> opened = client.OpenStreamFor(session->id());
    if (opened.ok()) {
      stream = *std::move(opened);
    } else {
      run.RecordError("open stream", opened.status());
    }
  }
  run.ready().DecrementCount();
  run.go().WaitForNotification();

  WorkerTally tally;
  if (stream != nullptr) {
    const bool stream_alive = StreamChunks(run, *stream, session->id(), *text, &tally);
    absl::Status finished = stream->Finish();
    // A stream that ended early was counted once already.
    if (stream_alive && !finished.ok()) run.RecordError("stream", finished);
  } else if (generate && session.ok()) {
    GenerateTurns(run, client, session->id(), *text, &tally);
  }
  run.RecordWorker(tally);
  if (session.ok()) {
    absl::Status deleted = client.DeleteSession(session->id());
    if (!deleted.ok()) run.RecordError("delete", deleted);
  }
}

}  // namespace

absl::Status ValidateBenchOptions(const BenchOptions& options) {
  if (options.sessions < 1 || options.sessions > kMaxSessions) {
    return absl::InvalidArgumentError(
        absl::StrCat("sessions must be in 1..", kMaxSessions, ", got ", options.sessions));
  }
  if (options.chunk_bytes < 1) return absl::InvalidArgumentError("chunk_bytes must be >= 1");
  if (options.tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("tokens must be >= 0, got ", options.tokens));
  }
  if (options.tokens == 0 && options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "duration must be > 0 (or give tokens), got ", absl::FormatDuration(options.duration)));
  }
  if (options.requests_per_session < 0) {
    return absl::InvalidArgumentError(absl::StrCat("requests_per_session must be >= 0, got ",
                                                   options.requests_per_session));
  }
  if (options.top_k < 0 || options.top_k > kMaxTopK) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be in 0..", kMaxTopK, ", got ", options.top_k));
  }
  if (options.spread_pulses < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("spread_pulses must be >= 0, got ", options.spread_pulses));
  }
  if (options.max_tokens < 1 || options.max_tokens > kMaxGenerateTokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_tokens must be in 1..", kMaxGenerateTokens, ", got ", options.max_tokens));
  }
  return absl::OkStatus();
}

int64_t BenchReport::error_count() const {
  int64_t total = 0;
  for (const auto& [code, count] : errors_by_code) total += count;
  return total;
}

double BenchReport::chunks_per_second() const {
  return wall_seconds > 0 ? static_cast<double>(chunks) / wall_seconds : 0;
}

double BenchReport::tokens_per_second() const {
  return wall_seconds > 0 ? static_cast<double>(tokens) / wall_seconds : 0;
}

double BenchReport::generated_tokens_per_second() const {
  return wall_seconds > 0 ? static_cast<double>(generated_tokens) / wall_seconds : 0;
}

BenchReport RunBench(HecateClient& client, const BenchOptions& options) {
  BenchReport report;
  report.sessions = options.sessions;
  report.chunk_bytes = options.chunk_bytes;
  report.generate = options.mode == BenchOptions::Mode::kGenerate;
  SharedRun run(options);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(options.sessions));
  for (int i = 0; i < options.sessions; ++i) {
    workers.emplace_back([&client, &run, i] { RunWorker(client, run, i); });
  }
  run.ready().Wait();
  if (options.before_timed_run) options.before_timed_run();
  const absl::Time start = absl::Now();
  run.set_deadline(start + options.duration);
  run.go().Notify();
  for (std::thread& worker : workers) worker.join();
  run.Fill(&report, start);
  return report;
}

}  // namespace hecate

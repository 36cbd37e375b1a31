// libFuzzer target: sequences of messages on one Stream call, through the
// real StreamReactor in process (stream_harness.h).
//
// Input: one flags byte, then records [kind][length: 2 bytes LE][payload].
//   flags % 8: 0..4 a valid key; 5 no `authorization`; 6 an unknown key;
//              7 two `authorization` values.
//   flags & 8: a slow reader (writes complete only while no read is due, so
//              the reply queue fills and backpressure engages).
//   flags >> 4: the schedule's seed: which of the reactions, executor tasks
//              and engine steps that can run goes next (the harness runs the
//              call on one thread, one at a time).
//   kind % 4:  0 the payload is sent as it is (it need not parse);
//              1, 2 the payload parsed as a StreamRequest, aimed at session A
//                   or B (fresh sessions of the caller) with request_id
//                   "#<record index>" (a payload that does not parse is sent
//                   as it is);
//              3 the payload parsed and sent with its own (fuzzed) ids.
// At most 8 records (fewer than the in-flight limit). The work an input can
// ask for is bounded so a run reaches millions of inputs on two cores: chunks
// of at most 32 bytes (applied in slices of up to 8 tokens), at most 4
// generated tokens per request, a reply queue of 4 (a slow reader fills it
// with one generating request); longer inputs only add records that are
// not read.
//
// What must hold, whatever the sequence:
//   - a bad credential ends the call UNAUTHENTICATED with no reply;
//   - otherwise the call ends OK, or INVALID_ARGUMENT exactly when a message
//     does not parse; every message before the first unparsable one gets
//     exactly one final reply (done or error), none after it is answered;
//   - requests to A and B are answered in their order; a done reply's pulse
//     id is the session's previous pulse id plus the chunk's bytes plus the
//     tokens generated, each generated token's pulse id and index count up
//     from there; an error changes nothing; afterwards the store holds each
//     session at exactly the last pulse id reported;
//   - a request whose expected_pulse_id is not its session's pulse id is
//     never applied: FAILED_PRECONDITION carrying that pulse id (or
//     INVALID_ARGUMENT when it also fails validation);
//   - every error is INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION
//     (only as above) with a message;
//   - nothing hangs (30 s deadline), crashes, or reads out of range.
// Build and run: tools/fuzz_server.sh stream_fuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "server/fuzz/fuzz_check.h"
#include "server/fuzz/stream_harness.h"

namespace hecate::fuzz {
namespace {

constexpr size_t kMaxRecords = 8;

StreamHarness& Harness() {
  static StreamHarness* harness = [] {
    // Fuzzed ids that are not UTF-8 make protobuf log each parse; what the
    // parse returns is what is checked.
    google::protobuf::SetLogHandler(nullptr);
    StreamHarness::Options options;
    options.limits.max_chunk_bytes = 32;
    options.limits.max_generate_tokens = 4;
    options.limits.max_inflight_per_stream = 64;
    options.limits.max_queued_replies_per_stream = 4;  // backpressure engages
    // Slices and steps small enough that a 32-byte chunk is sliced and
    // steps are shared.
    options.engine = {.max_slice_tokens = 8, .max_step_tokens = 16, .min_slice_tokens = 2};
    absl::StatusOr<std::unique_ptr<StreamHarness>> h = StreamHarness::Start(options);
    FUZZ_CHECK(h.ok(), h.status().ToString());
    return h->release();
  }();
  return *harness;
}

struct Sent {
  std::string bytes;
  bool parses = false;
  int target = -1;  // 0: session A, 1: session B, -1: fuzzed ids
  v1::StreamRequest request;
};

std::vector<Sent> Decode(const uint8_t* data, size_t size, const std::string ids[2]) {
  std::vector<Sent> sent;
  size_t at = 1;
  while (at + 3 <= size && sent.size() < kMaxRecords) {
    const int kind = data[at] % 4;
    const size_t length = std::min<size_t>(data[at + 1] | (data[at + 2] << 8), size - at - 3);
    Sent s;
    s.bytes.assign(reinterpret_cast<const char*>(data + at + 3), length);
    at += 3 + length;
    if (kind != 0 && s.request.ParseFromString(s.bytes)) {
      if (kind != 3) {
        s.target = kind - 1;
        s.request.set_session_id(ids[s.target]);
        s.request.set_request_id(absl::StrCat("#", sent.size()));
      }
      s.bytes = s.request.SerializeAsString();
    }
    // What the server sees: whether the bytes parse, by the same parser.
    s.parses = s.request.ParseFromString(s.bytes);
    sent.push_back(std::move(s));
  }
  return sent;
}

bool IsFinal(const v1::StreamResponse& r) { return r.has_done() || r.has_error(); }

void CheckRun(const std::vector<Sent>& sent, const StreamRun& run, bool authenticated,
              const std::string ids[2], StreamHarness& harness) {
  FUZZ_CHECK(!run.deadline_exceeded, run.message);
  if (!authenticated) {
    FUZZ_CHECK(run.code == grpc::StatusCode::UNAUTHENTICATED,
               absl::StrCat("bad credentials ended with code ", run.code, ": ", run.message));
    FUZZ_CHECK(run.replies.empty(), "replies to an unauthenticated stream");
    return;
  }
  size_t parsed = 0;
  while (parsed < sent.size() && sent[parsed].parses) ++parsed;
  const grpc::StatusCode expected =
      parsed < sent.size() ? grpc::StatusCode::INVALID_ARGUMENT : grpc::StatusCode::OK;
  FUZZ_CHECK(run.code == expected, absl::StrCat("stream ended with code ", run.code, " (",
                                                run.message, "), expected ", expected));

  size_t finals = 0;
  std::map<std::string, std::vector<const v1::StreamResponse*>> by_request;
  for (const v1::StreamResponse& r : run.replies) {
    if (IsFinal(r)) ++finals;
    if (r.has_error()) {
      FUZZ_CHECK(r.error().code() == static_cast<int>(absl::StatusCode::kInvalidArgument) ||
                     r.error().code() == static_cast<int>(absl::StatusCode::kNotFound) ||
                     r.error().code() ==
                         static_cast<int>(absl::StatusCode::kFailedPrecondition),
                 absl::StrCat("error code ", r.error().code(), ": ", r.error().message()));
      FUZZ_CHECK(!r.error().message().empty(), "error without a message");
    }
    FUZZ_CHECK(r.request_id().size() <= 128 && r.session_id().size() <= 32,
               "a reply echoes more than the documented id sizes");
    by_request[r.session_id() + "/" + r.request_id()].push_back(&r);
  }
  FUZZ_CHECK(finals == parsed,
             absl::StrCat(finals, " final replies to ", parsed, " requests read"));

  uint64_t pulse[2] = {0, 0};
  for (size_t i = 0; i < parsed; ++i) {
    const Sent& s = sent[i];
    if (s.target < 0) {
      FUZZ_CHECK(s.request.session_id() != ids[0] && s.request.session_id() != ids[1],
                 "fuzzed ids named a harness session");
      continue;
    }
    const auto it = by_request.find(ids[s.target] + "/#" + std::to_string(i));
    FUZZ_CHECK(it != by_request.end(), absl::StrCat("request #", i, " got no reply"));
    const std::vector<const v1::StreamResponse*>& replies = it->second;
    FUZZ_CHECK(IsFinal(*replies.back()), absl::StrCat("request #", i, " has no final reply last"));
    const v1::StreamResponse& last = *replies.back();
    const bool misplaced =
        s.request.has_expected_pulse_id() && s.request.expected_pulse_id() != pulse[s.target];
    if (last.has_error()) {
      FUZZ_CHECK(replies.size() == 1, absl::StrCat("request #", i, " failed after tokens"));
      if (last.error().code() == static_cast<int>(absl::StatusCode::kFailedPrecondition)) {
        FUZZ_CHECK(misplaced && last.error().has_current_pulse_id() &&
                       last.error().current_pulse_id() == pulse[s.target],
                   absl::StrCat("request #", i, ": FAILED_PRECONDITION ",
                                last.error().ShortDebugString(), " with the session at ",
                                pulse[s.target]));
      }
      continue;  // the session is unchanged
    }
    FUZZ_CHECK(!misplaced, absl::StrCat("request #", i, " applied at pulse ", pulse[s.target],
                                        " though it expected ", s.request.expected_pulse_id()));
    const uint64_t base = pulse[s.target] + s.request.input().size();
    const int generated = last.done().generated_tokens();
    FUZZ_CHECK(static_cast<size_t>(generated) + 1 == replies.size(),
               absl::StrCat("request #", i, ": ", generated, " tokens, ", replies.size(),
                            " replies"));
    for (int t = 0; t < generated; ++t) {
      const v1::StreamResponse& token = *replies[t];
      FUZZ_CHECK(token.has_token() && token.token().index() == t &&
                     token.pulse_id() == base + t + 1 && token.token().token() < 256,
                 absl::StrCat("request #", i, ": token ", t, " out of order"));
    }
    FUZZ_CHECK(last.pulse_id() == base + generated,
               absl::StrCat("request #", i, ": done at pulse ", last.pulse_id(), ", expected ",
                            base + generated));
    pulse[s.target] = last.pulse_id();
  }
  for (int t = 0; t < 2; ++t) {
    absl::StatusOr<SessionInfo> info = harness.store().Get(ids[t], StreamHarness::kUser);
    FUZZ_CHECK(info.ok(), info.status().ToString());
    FUZZ_CHECK(info->pulse_id == pulse[t],
               absl::StrCat("session ", t, " at pulse ", info->pulse_id, ", replies said ",
                            pulse[t]));
  }
}

}  // namespace
}  // namespace hecate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hecate::fuzz::StreamHarness;
  if (size == 0) return 0;
  StreamHarness& harness = hecate::fuzz::Harness();
  const std::string ids[2] = {harness.NewSession(), harness.NewSession()};
  const std::vector<hecate::fuzz::Sent> sent = hecate::fuzz::Decode(data, size, ids);
  std::vector<std::string> messages;
  for (const auto& s : sent) messages.push_back(s.bytes);
  const int mode = data[0] % 8;
  const StreamHarness::Auth auth = mode < 5    ? StreamHarness::Auth::kValid
                                   : mode == 5 ? StreamHarness::Auth::kMissing
                                   : mode == 6 ? StreamHarness::Auth::kUnknownKey
                                               : StreamHarness::Auth::kTwoValues;
  const StreamHarness::Pace pace =
      (data[0] & 8) != 0 ? StreamHarness::Pace::kSlowReader : StreamHarness::Pace::kPrompt;
  const hecate::fuzz::StreamRun run = harness.Run(messages, auth, pace, data[0] >> 4);
  if (std::getenv("HECATE_FUZZ_VERBOSE") != nullptr) {  // what each replayed input did
    std::fprintf(stderr, "  %zu messages, code %d, %zu replies\n", messages.size(),
                 static_cast<int>(run.code), run.replies.size());
    for (const hecate::v1::StreamResponse& r : run.replies) {
      std::fprintf(stderr, "    %s\n", r.ShortDebugString().substr(0, 160).c_str());
    }
  }
  hecate::fuzz::CheckRun(sent, run, auth == StreamHarness::Auth::kValid, ids, harness);
  for (const std::string& id : ids) {
    const absl::Status deleted = harness.store().Delete(id, StreamHarness::kUser);
    FUZZ_CHECK(deleted.ok(), absl::StrCat("cannot delete a session: ", deleted.ToString()));
  }
  return 0;
}

// libFuzzer target: every request validator of the service edge, on
// arbitrary wire bytes.
//
// The first byte picks the request type (StreamRequest, GenerateRequest,
// ExportCheckpointRequest, RestoreCheckpointRequest, a bare session id); the
// rest is parsed as that message and put through the checks the service runs
// on it, in the service's order, under the default limits and under tight
// ones. Every validator must return OK or INVALID_ARGUMENT with a short,
// non-empty message (never an echo of an oversized field), the same answer
// twice, and agree with an independent statement of its rule; whatever it
// accepts must be usable: accepted sampling parameters sample a token in
// range whose tempered weight is not zero, and an accepted top-k returns k
// ranked choices. Build and run: tools/fuzz_server.sh validation_fuzzer.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/sampler.h"
#include "server/fuzz/fuzz_check.h"
#include "server/validation.h"
#include "sessions/checkpoint_file.h"
#include "sessions/session.h"

namespace hecate {
namespace {

// Error messages name the field and the limit; 300 bytes is ample for that
// and far below any field a hostile client could make the server echo.
constexpr size_t kMaxMessageBytes = 300;
constexpr int kVocab = 256;

void CheckStatus(const absl::Status& status, absl::string_view what) {
  if (status.ok()) return;
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             absl::StrCat(what, ": undocumented code ", status.ToString()));
  FUZZ_CHECK(!status.message().empty(), absl::StrCat(what, ": empty message"));
  FUZZ_CHECK(status.message().size() <= kMaxMessageBytes,
             absl::StrCat(what, ": message of ", status.message().size(), " bytes"));
}

// Runs `validate` twice: a valid code, the same answer both times.
template <typename Fn>
absl::Status Checked(absl::string_view what, Fn validate) {
  const absl::Status first = validate();
  CheckStatus(first, what);
  FUZZ_CHECK(validate() == first, absl::StrCat(what, ": not deterministic"));
  return first;
}

std::vector<ServiceLimits> LimitSets() {
  ServiceLimits tight;
  tight.max_chunk_bytes = 16;
  tight.max_generate_tokens = 3;
  tight.max_request_id_bytes = 4;
  tight.max_stop_bytes = 2;
  return {ServiceLimits{}, tight};
}

// Logits derived from the request's own bytes: ties, huge gaps and equal
// rows all occur.
std::vector<float> LogitsFrom(absl::string_view bytes) {
  std::vector<float> logits(kVocab, 0.0f);
  for (size_t i = 0; i < bytes.size(); ++i) {
    logits[i % kVocab] += static_cast<float>(static_cast<int8_t>(bytes[i])) * 0.37f;
  }
  return logits;
}

// What an accepted SamplingParams must allow: a token in range, from the
// top-k cut, whose tempered weight is not zero (issue 13, part 1: a
// temperature just above zero sampled the least likely byte).
void CheckSamplingUsable(const v1::SamplingParams& params, absl::string_view seed_bytes) {
  const SamplingOptions options = ToSamplingOptions(params);
  FUZZ_CHECK(ValidateSamplingOptions(options, kVocab).ok(),
             "ValidateSampling accepted options the sampler rejects");
  const std::vector<float> logits = LogitsFrom(seed_bytes);
  for (uint64_t pulse : {uint64_t{0}, uint64_t{1}, params.seed()}) {
    const TokenChoice choice = SampleToken(logits, options, pulse);
    FUZZ_CHECK(choice.token >= 0 && choice.token < kVocab, "token out of range");
    FUZZ_CHECK(std::isfinite(choice.logprob) && choice.logprob <= 0.0f, "bad logprob");
    float top = logits[0];
    int rank = 0;  // tokens strictly more likely than the choice, or tied and lower
    for (int t = 0; t < kVocab; ++t) {
      top = std::max(top, logits[t]);
      if (logits[t] > logits[choice.token] || (logits[t] == logits[choice.token] && t < choice.token)) {
        ++rank;
      }
    }
    if (options.top_k > 0) FUZZ_CHECK(rank < options.top_k, "sampled outside top_k");
    if (options.temperature == 0.0f) {
      FUZZ_CHECK(rank == 0, "greedy did not pick the most likely token");
    } else {
      const double weight =
          std::exp((static_cast<double>(logits[choice.token]) - top) / options.temperature);
      FUZZ_CHECK(weight > 0.0, absl::StrCat("sampled a token of zero weight at temperature ",
                                            options.temperature));
    }
  }
}

void CheckOutputSpec(const v1::OutputSpec& spec, const ServiceLimits& limits,
                     absl::string_view seed_bytes) {
  const absl::Status valid =
      Checked("ValidateOutputSpec", [&] { return ValidateOutputSpec(spec, limits); });
  if (!valid.ok()) return;
  if (spec.has_top_k()) {
    const int k = spec.top_k().k();
    FUZZ_CHECK(k >= 1 && k <= kVocab, "top_k.k accepted out of range");
    const std::vector<TokenChoice> top = TopK(LogitsFrom(seed_bytes), k);
    FUZZ_CHECK(static_cast<int>(top.size()) == k, "TopK returned the wrong count");
    for (size_t i = 1; i < top.size(); ++i) {
      FUZZ_CHECK(top[i - 1].logprob >= top[i].logprob, "TopK not ranked");
    }
  }
  if (spec.has_sample()) {
    FUZZ_CHECK(ValidateSampling(spec.sample(), limits).ok(), "spec and sampling disagree");
    CheckSamplingUsable(spec.sample(), seed_bytes);
  }
}

void CheckSampling(const v1::SamplingParams& params, const ServiceLimits& limits,
                   absl::string_view seed_bytes) {
  const absl::Status valid =
      Checked("ValidateSampling", [&] { return ValidateSampling(params, limits); });
  const bool in_rule = params.max_tokens() >= 1 &&
                       params.max_tokens() <= limits.max_generate_tokens &&
                       static_cast<int>(params.stop_bytes().size()) <= limits.max_stop_bytes;
  if (!in_rule) FUZZ_CHECK(!valid.ok(), "ValidateSampling accepted max_tokens or stop_bytes");
  if (valid.ok()) CheckSamplingUsable(params, seed_bytes);
}

void CheckChunk(absl::string_view bytes, const ServiceLimits& limits) {
  const absl::Status valid = Checked("ValidateChunk", [&] { return ValidateChunk(bytes, limits); });
  FUZZ_CHECK(valid.ok() == (static_cast<int64_t>(bytes.size()) <= limits.max_chunk_bytes),
             "ValidateChunk disagrees with its limit");
}

void CheckRequestId(absl::string_view id, const ServiceLimits& limits) {
  const absl::Status valid =
      Checked("ValidateRequestId", [&] { return ValidateRequestId(id, limits); });
  FUZZ_CHECK(valid.ok() == (static_cast<int>(id.size()) <= limits.max_request_id_bytes),
             "ValidateRequestId disagrees with its limit");
}

void CheckSessionId(absl::string_view id) {
  const absl::Status valid = Checked("ValidateSessionId", [&] { return ValidateSessionId(id); });
  bool rule = id.size() == 32;
  for (char c : id) rule = rule && (absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'));
  FUZZ_CHECK(valid.ok() == rule, absl::StrCat("ValidateSessionId wrong on ", id.size(), " bytes"));
}

void CheckName(absl::string_view name) {
  const absl::Status valid =
      Checked("ValidateName", [&] { return ValidateName("checkpoint name", name); });
  bool rule = !name.empty() && name.size() <= kMaxNameLength && name[0] != '.';
  for (char c : name) {
    rule = rule && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                    c == '-');
  }
  FUZZ_CHECK(valid.ok() == rule, "ValidateName disagrees with its rule");
}

void CheckStream(absl::string_view wire) {
  v1::StreamRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  CheckSessionId(request.session_id());
  for (const ServiceLimits& limits : LimitSets()) {
    CheckRequestId(request.request_id(), limits);
    CheckChunk(request.input(), limits);
    CheckOutputSpec(request.output(), limits, wire);
  }
}

void CheckGenerate(absl::string_view wire) {
  v1::GenerateRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  if (!request.session_id().empty()) CheckSessionId(request.session_id());
  for (const ServiceLimits& limits : LimitSets()) {
    CheckChunk(request.prompt(), limits);
    CheckSampling(request.sampling(), limits, wire);
  }
}

void CheckExport(absl::string_view wire) {
  v1::ExportCheckpointRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  CheckSessionId(request.session_id());
  if (!request.name().empty()) CheckName(request.name());
}

void CheckRestore(absl::string_view wire) {
  v1::RestoreCheckpointRequest request;
  if (!request.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return;
  if (!request.session_id().empty()) CheckSessionId(request.session_id());
  if (request.has_checkpoint_name()) CheckName(request.checkpoint_name());
}

}  // namespace
}  // namespace hecate

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: hecate::CheckStream(rest); break;
    case 1: hecate::CheckGenerate(rest); break;
    case 2: hecate::CheckExport(rest); break;
    case 3: hecate::CheckRestore(rest); break;
    case 4:
      hecate::CheckSessionId(rest);
      hecate::CheckName(rest);
      break;
  }
  return 0;
}

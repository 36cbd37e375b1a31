#include "client/ctl/output.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace hecate {
namespace {

// Lower-case enum value name without its prefix: ("RESIDENCY_DISK", "RESIDENCY_") -> "disk".
std::string ShortEnumName(const std::string& full, absl::string_view prefix) {
  absl::string_view name = full;
  if (name.empty()) return "unknown";
  if (absl::StartsWith(name, prefix)) name.remove_prefix(prefix.size());
  return absl::AsciiStrToLower(name);
}

// The GEMM mode a server reports; servers older than ModelInfo.gemm say
// only whether it is tf32.
std::string GemmName(const v1::ModelInfo& info) {
  if (!info.gemm().empty()) return info.gemm();
  return info.tf32() ? "tf32" : "fp32";
}

}  // namespace

std::string QuoteToken(uint32_t token) {
  if (token > 255) return absl::StrCat("<token ", token, ">");
  const char byte = static_cast<char>(token);
  if (byte == '\'') return "'\\''";
  if (byte == '"') return "'\"'";
  return absl::StrCat("'", absl::CHexEscape(absl::string_view(&byte, 1)), "'");
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  const absl::Time time = absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string ResidencyName(v1::Residency residency) {
  return ShortEnumName(v1::Residency_Name(residency), "RESIDENCY_");
}

std::string FinishReasonName(v1::FinishReason reason) {
  return ShortEnumName(v1::FinishReason_Name(reason), "FINISH_REASON_");
}

std::string DescribeSession(const v1::Session& session) {
  return absl::StrCat(
      "session:      ", session.id(), "\n",
      "pulse:        ", session.pulse_id(), "\n",
      "tokens in:    ", session.tokens_in(), "\n",
      "tokens out:   ", session.tokens_out(), "\n",
      "residency:    ", ResidencyName(session.residency()), "\n",
      "state:        ", HumanBytes(session.state_bytes()), "\n",
      "created:      ", FormatTimestamp(session.create_time()), "\n",
      "last used:    ", FormatTimestamp(session.last_use_time()), "\n",
      "model:        ", session.model_fingerprint(), "\n",
      "digest:       ", session.transcript_digest(), "\n");
}

std::string DescribeModelInfo(const v1::ModelInfo& info) {
  // The modes other than fp32, flagged: "cuda (tf32, bf16 weights)",
  // "cuda (3xtf32)".
  std::vector<std::string> modes;
  if (const std::string gemm = GemmName(info); gemm != "fp32") modes.push_back(gemm);
  if (!info.weight_format().empty() && info.weight_format() != "fp32") {
    modes.push_back(absl::StrCat(info.weight_format(), " weights"));
  }
  return absl::StrCat(
      "model:        ", info.model_type(), "\n",
      "backend:      ", info.backend(),
      modes.empty() ? "" : absl::StrCat(" (", absl::StrJoin(modes, ", "), ")"), "\n",
      "vocab:        ", info.vocab_size(), "\n",
      "d_model:      ", info.d_model(), "\n",
      "layers:       ", info.n_layers(), "\n",
      "heads:        ", info.n_heads(), "\n",
      "window:       ", info.window(), "\n",
      "periods:      ", absl::StrJoin(info.periods(), ","), "\n",
      "d_ff:         ", info.d_ff(), "\n",
      "state:        ", HumanBytes(info.state_bytes_per_session()), " per session\n",
      "fingerprint:  ", info.fingerprint(), "\n");
}

std::string SessionTableHeader() {
  return absl::StrFormat("%-32s  %12s  %-9s  %10s  %s\n", "ID", "PULSE", "RESIDENCY", "STATE",
                         "LAST USED");
}

std::string SessionTableRow(const v1::Session& session) {
  return absl::StrFormat("%-32s  %12d  %-9s  %10s  %s\n", session.id(), session.pulse_id(),
                         ResidencyName(session.residency()), HumanBytes(session.state_bytes()),
                         FormatTimestamp(session.last_use_time()));
}

std::string FormatTopK(const google::protobuf::RepeatedPtrField<v1::TokenLogProb>& top_k) {
  return absl::StrJoin(top_k, "  ", [](std::string* out, const v1::TokenLogProb& entry) {
    absl::StrAppend(out, QuoteToken(entry.token()), " ", absl::StrFormat("%.3f", entry.logprob()));
  });
}

nlohmann::json SessionToJson(const v1::Session& session) {
  return nlohmann::json{
      {"id", session.id()},
      {"pulse_id", session.pulse_id()},
      {"model_fingerprint", session.model_fingerprint()},
      {"state_bytes", session.state_bytes()},
      {"create_time", FormatTimestamp(session.create_time())},
      {"last_use_time", FormatTimestamp(session.last_use_time())},
      {"residency", ResidencyName(session.residency())},
      {"tokens_in", session.tokens_in()},
      {"tokens_out", session.tokens_out()},
      {"transcript_digest", session.transcript_digest()},
      {"transcript_start_pulse", session.transcript_start_pulse()},
      {"keep_on_expiry", session.keep_on_expiry()},
      {"pinned", session.pinned()},
  };
}

nlohmann::json ModelInfoToJson(const v1::ModelInfo& info) {
  return nlohmann::json{
      {"model_type", info.model_type()},
      {"vocab_size", info.vocab_size()},
      {"d_model", info.d_model()},
      {"n_layers", info.n_layers()},
      {"n_heads", info.n_heads()},
      {"window", info.window()},
      {"periods", std::vector<int32_t>(info.periods().begin(), info.periods().end())},
      {"d_ff", info.d_ff()},
      {"fingerprint", info.fingerprint()},
      {"backend", info.backend()},
      {"tf32", info.tf32()},
      {"gemm", GemmName(info)},
      {"weight_format", info.weight_format().empty() ? "fp32" : info.weight_format()},
      {"state_bytes_per_session", info.state_bytes_per_session()},
  };
}

nlohmann::json TopKToJson(const google::protobuf::RepeatedPtrField<v1::TokenLogProb>& top_k) {
  nlohmann::json entries = nlohmann::json::array();
  for (const v1::TokenLogProb& entry : top_k) {
    entries.push_back({{"token", entry.token()}, {"logprob", entry.logprob()}});
  }
  return entries;
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hecate

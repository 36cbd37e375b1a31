// hecatectl fork ID [--at=N]
// hecatectl rewind ID --to=N
// hecatectl transcript ID [--from=N] [--out=FILE]
#include <optional>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/output.h"
#include "client/ctl/usage_error.h"
#include "client/ctl/verb.h"
#include "client/file_io.h"

ABSL_FLAG(std::string, from, "0", "transcript: the first pulse whose byte to print");
ABSL_FLAG(std::string, at, "", "fork: copy the session as it was at this pulse (default: now)");
ABSL_FLAG(std::string, to, "", "rewind: the pulse to put the session back to (required)");
ABSL_DECLARE_FLAG(std::string, out);  // checkpoint_verbs.cc; transcript: write the bytes here

namespace hecate {

absl::Status RunFork(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("fork", args, 1, 1, "ID [--at=N]"));
  HECATE_ASSIGN_OR_RETURN(absl::optional<uint64_t> at,
                          ExpectedPulseValue(absl::GetFlag(FLAGS_at), "at"));
  std::optional<uint64_t> at_pulse;
  if (at.has_value()) at_pulse = *at;
  HECATE_ASSIGN_OR_RETURN(v1::Session fork, context.client->ForkSession(args[0], at_pulse));
  if (context.json) {
    *context.out << DumpJson(SessionToJson(fork)) << "\n";
  } else {
    *context.out << "session " << fork.id() << " forked from " << args[0] << " at pulse "
                 << fork.pulse_id() << ", digest " << fork.transcript_digest() << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunRewind(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("rewind", args, 1, 1, "ID --to=N"));
  HECATE_ASSIGN_OR_RETURN(absl::optional<uint64_t> to,
                          ExpectedPulseValue(absl::GetFlag(FLAGS_to), "to"));
  if (!to.has_value()) return UsageError("rewind needs --to=N (the pulse to go back to)");
  HECATE_ASSIGN_OR_RETURN(v1::Session session, context.client->RewindSession(args[0], *to));
  if (context.json) {
    *context.out << DumpJson(SessionToJson(session)) << "\n";
  } else {
    *context.out << "session " << session.id() << " rewound to pulse " << session.pulse_id()
                 << ", digest " << session.transcript_digest() << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunTranscript(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("transcript", args, 1, 1, "ID [--from=N] [--out=FILE]"));
  HECATE_ASSIGN_OR_RETURN(absl::optional<uint64_t> from,
                          ExpectedPulseValue(absl::GetFlag(FLAGS_from)));
  HECATE_ASSIGN_OR_RETURN(std::string bytes,
                          context.client->ReadWholeTranscript(args[0], from.value_or(0)));
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) {
    HECATE_RETURN_IF_ERROR(WriteFileAtomically(out, bytes));
    *context.out << bytes.size() << " transcript bytes of session " << args[0] << " from pulse "
                 << from.value_or(0) << " written to " << out << "\n";
  } else {
    *context.out << bytes;  // raw bytes, as consumed
  }
  return absl::OkStatus();
}

}  // namespace hecate

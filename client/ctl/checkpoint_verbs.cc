// hecatectl checkpoint ID (--out=FILE | --name=NAME)
// hecatectl restore (--in=FILE | --name=NAME) [--session=ID] [--expect_pulse=N]
// hecatectl checkpoints
// hecatectl delete-checkpoint NAME
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/output.h"
#include "client/ctl/shared_flags.h"
#include "client/ctl/verb.h"
#include "client/file_io.h"

ABSL_FLAG(std::string, out, "", "checkpoint: write the checkpoint file here (atomically)");
ABSL_FLAG(std::string, in, "", "restore: read the checkpoint file from here");
ABSL_FLAG(std::string, session, "",
          "restore: restore over this existing session instead of creating a new one");
ABSL_FLAG(std::string, expect_pulse, "",
          "restore: refuse (FAILED_PRECONDITION) unless the checkpoint is at this pulse id");
ABSL_FLAG(std::string, expect_digest, "",
          "restore: refuse (FAILED_PRECONDITION) unless the checkpoint's transcript digest is "
          "this (64 hex digits, as `hecatectl get` prints)");

namespace hecate {

absl::Status RunCheckpoint(VerbContext& context, absl::Span<const std::string> args) {
  if (absl::Status status = ExpectArguments("checkpoint", args, 1, 1, "ID (--out=FILE | --name=NAME)");
      !status.ok()) {
    return status;
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  const std::string name = absl::GetFlag(FLAGS_name);
  if (out.empty() && name.empty()) {
    return UsageError("checkpoint needs --out=FILE, --name=NAME, or both");
  }
  HECATE_ASSIGN_OR_RETURN(
      v1::ExportCheckpointResponse checkpoint,
      context.client->ExportCheckpoint(args[0], name, /*omit_data=*/out.empty()));
  if (!out.empty()) {
    absl::Status written = WriteFileAtomically(out, checkpoint.checkpoint_data());
    if (!written.ok()) return written;
  }
  if (context.json) {
    *context.out << DumpJson(nlohmann::json{
                        {"session_id", args[0]},
                        {"pulse_id", checkpoint.pulse_id()},
                        {"model_fingerprint", checkpoint.model_fingerprint()},
                        {"size_bytes", checkpoint.size_bytes()},
                        {"file", out},
                        {"name", checkpoint.name()},
                    })
                 << "\n";
    return absl::OkStatus();
  }
  *context.out << "checkpoint of session " << args[0] << " at pulse " << checkpoint.pulse_id()
               << " (" << HumanBytes(checkpoint.size_bytes()) << ")";
  if (!out.empty()) *context.out << " written to " << out;
  if (!out.empty() && !name.empty()) *context.out << " and";
  if (!name.empty()) *context.out << " stored as " << checkpoint.name();
  *context.out << "\n";
  return absl::OkStatus();
}

absl::Status RunRestore(VerbContext& context, absl::Span<const std::string> args) {
  if (absl::Status status = ExpectArguments("restore", args, 0, 0,
                                            "(--in=FILE | --name=NAME) [--session=ID] "
                                            "[--expect_pulse=N] [--expect_digest=HEX]");
      !status.ok()) {
    return status;
  }
  const std::string in = absl::GetFlag(FLAGS_in);
  const std::string name = absl::GetFlag(FLAGS_name);
  if (in.empty() == name.empty()) {
    return UsageError("restore needs exactly one of --in=FILE and --name=NAME");
  }
  HECATE_ASSIGN_OR_RETURN(absl::optional<uint64_t> expected,
                          ExpectedPulseValue(absl::GetFlag(FLAGS_expect_pulse)));

  v1::RestoreCheckpointRequest request;
  if (!in.empty()) {
    HECATE_ASSIGN_OR_RETURN(std::string data, ReadFileToString(in));
    request.set_checkpoint_data(std::move(data));
  } else {
    request.set_checkpoint_name(name);
  }
  request.set_session_id(absl::GetFlag(FLAGS_session));
  if (expected.has_value()) request.set_expected_pulse_id(*expected);
  request.set_expected_digest(absl::GetFlag(FLAGS_expect_digest));

  HECATE_ASSIGN_OR_RETURN(v1::Session session, context.client->RestoreCheckpoint(request));
  if (context.json) {
    *context.out << DumpJson(SessionToJson(session)) << "\n";
  } else {
    *context.out << "session " << session.id() << " restored at pulse " << session.pulse_id()
                 << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunCheckpoints(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("checkpoints", args, 0, 0, ""));
  HECATE_ASSIGN_OR_RETURN(v1::ListCheckpointsResponse list, context.client->ListCheckpoints());
  if (context.json) {
    nlohmann::json items = nlohmann::json::array();
    for (const v1::CheckpointInfo& c : list.checkpoints()) {
      nlohmann::json item{{"name", c.name()},
                          {"size_bytes", c.size_bytes()},
                          {"create_time", FormatTimestamp(c.create_time())},
                          {"pulse_id", nullptr}};
      if (c.has_pulse_id()) item["pulse_id"] = c.pulse_id();
      items.push_back(std::move(item));
    }
    *context.out << DumpJson(nlohmann::json{{"checkpoints", items},
                                            {"used_bytes", list.used_bytes()},
                                            {"quota_bytes", list.quota_bytes()}})
                 << "\n";
    return absl::OkStatus();
  }
  if (list.checkpoints().empty()) {
    *context.out << "no checkpoints\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof(line), "%-32s %10s %11s  %s\n", "NAME", "PULSE", "SIZE",
                  "CREATED");
    *context.out << line;
    for (const v1::CheckpointInfo& c : list.checkpoints()) {
      const std::string pulse = c.has_pulse_id() ? std::to_string(c.pulse_id()) : "?";
      std::snprintf(line, sizeof(line), "%-32s %10s %11s  %s\n", c.name().c_str(),
                    pulse.c_str(), HumanBytes(c.size_bytes()).c_str(),
                    FormatTimestamp(c.create_time()).c_str());
      *context.out << line;
    }
  }
  *context.out << "used " << HumanBytes(list.used_bytes()) << " of "
               << HumanBytes(list.quota_bytes()) << "\n";
  return absl::OkStatus();
}

absl::Status RunDeleteCheckpoint(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("delete-checkpoint", args, 1, 1, "NAME"));
  HECATE_RETURN_IF_ERROR(context.client->DeleteCheckpoint(args[0]));
  if (context.json) {
    *context.out << DumpJson(nlohmann::json{{"deleted_checkpoint", args[0]}}) << "\n";
  } else {
    *context.out << "checkpoint " << args[0] << " deleted\n";
  }
  return absl::OkStatus();
}

}  // namespace hecate

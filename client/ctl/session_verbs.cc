// hecatectl create | list | get ID | delete ID | info | pin ID | unpin ID | update ID
#include <optional>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/ctl/output.h"
#include "client/ctl/verb.h"

ABSL_FLAG(bool, keep_on_expiry, false,
          "create, update: when the session expires (server --session_ttl), store it as "
          "checkpoint expired-<id> first (update: only when given; --keep_on_expiry=false "
          "turns it off)");
ABSL_FLAG(bool, pinned, false,
          "create, update: never move the session below host memory (server "
          "--max_pinned_sessions_per_user; update: only when given; --pinned=false unpins)");

namespace hecate {

absl::Status RunCreate(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("create", args, 0, 0, ""));
  CreateSessionOptions options;
  options.keep_on_expiry = absl::GetFlag(FLAGS_keep_on_expiry);
  options.pinned = absl::GetFlag(FLAGS_pinned);
  HECATE_ASSIGN_OR_RETURN(v1::Session session, context.client->CreateSession(options));
  if (context.json) {
    *context.out << DumpJson(SessionToJson(session)) << "\n";
  } else {
    *context.out << "session " << session.id() << " created (pulse " << session.pulse_id()
                 << ")\n";
  }
  return absl::OkStatus();
}

absl::Status RunList(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("list", args, 0, 0, ""));
  HECATE_ASSIGN_OR_RETURN(std::vector<v1::Session> sessions, context.client->ListSessions());
  if (context.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::Session& session : sessions) list.push_back(SessionToJson(session));
    *context.out << DumpJson(nlohmann::json{{"sessions", list}}) << "\n";
    return absl::OkStatus();
  }
  if (sessions.empty()) {
    *context.out << "no sessions\n";
    return absl::OkStatus();
  }
  *context.out << SessionTableHeader();
  for (const v1::Session& session : sessions) *context.out << SessionTableRow(session);
  return absl::OkStatus();
}

absl::Status RunGet(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("get", args, 1, 1, "ID"));
  HECATE_ASSIGN_OR_RETURN(v1::Session session, context.client->GetSession(args[0]));
  *context.out << (context.json ? DumpJson(SessionToJson(session)) + "\n"
                                : DescribeSession(session));
  return absl::OkStatus();
}

absl::Status RunDelete(VerbContext& context, absl::Span<const std::string> args) {
  if (absl::Status status = ExpectArguments("delete", args, 1, 1, "ID"); !status.ok()) {
    return status;
  }
  HECATE_RETURN_IF_ERROR(context.client->DeleteSession(args[0]));
  if (context.json) {
    *context.out << DumpJson(nlohmann::json{{"deleted", args[0]}}) << "\n";
  } else {
    *context.out << "session " << args[0] << " deleted\n";
  }
  return absl::OkStatus();
}

namespace {

// The session's flags after an update, as `get` shows them.
void PrintFlags(VerbContext& context, const v1::Session& session) {
  if (context.json) {
    *context.out << DumpJson(SessionToJson(session)) << "\n";
    return;
  }
  *context.out << "session " << session.id() << ": " << (session.pinned() ? "pinned" : "not pinned")
               << ", keep_on_expiry " << (session.keep_on_expiry() ? "on" : "off") << "\n";
}

absl::Status RunFlagsUpdate(VerbContext& context, absl::string_view id,
                            const SessionFlagsUpdate& update) {
  HECATE_ASSIGN_OR_RETURN(v1::Session session, context.client->UpdateSession(id, update));
  PrintFlags(context, session);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunPin(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("pin", args, 1, 1, "ID"));
  return RunFlagsUpdate(context, args[0], SessionFlagsUpdate{true, std::nullopt});
}

absl::Status RunUnpin(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("unpin", args, 1, 1, "ID"));
  return RunFlagsUpdate(context, args[0], SessionFlagsUpdate{false, std::nullopt});
}

absl::Status RunUpdate(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(
      ExpectArguments("update", args, 1, 1, "ID [--pinned=BOOL] [--keep_on_expiry=BOOL]"));
  // Only the flags given change (a flag's default is no request to clear it).
  auto given = [&](const char* flag) {
    return context.flags_given != nullptr && context.flags_given->count(flag) > 0;
  };
  SessionFlagsUpdate update;
  if (given("pinned")) update.pinned = absl::GetFlag(FLAGS_pinned);
  if (given("keep_on_expiry")) update.keep_on_expiry = absl::GetFlag(FLAGS_keep_on_expiry);
  if (!update.pinned.has_value() && !update.keep_on_expiry.has_value()) {
    return UsageError("update needs --pinned=BOOL and/or --keep_on_expiry=BOOL");
  }
  return RunFlagsUpdate(context, args[0], update);
}

absl::Status RunInfo(VerbContext& context, absl::Span<const std::string> args) {
  HECATE_RETURN_IF_ERROR(ExpectArguments("info", args, 0, 0, ""));
  HECATE_ASSIGN_OR_RETURN(v1::ModelInfo info, context.client->GetModelInfo());
  *context.out << (context.json ? DumpJson(ModelInfoToJson(info)) + "\n"
                                : DescribeModelInfo(info));
  return absl::OkStatus();
}

}  // namespace hecate

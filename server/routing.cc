#include "server/routing.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/status/statusor.h"

namespace hecate {

absl::Status EnsureSessionHere(ServiceContext& context, grpc::CallbackServerContext* call,
                               absl::string_view user, absl::string_view session_id) {
  if (context.shared == nullptr) return absl::OkStatus();
  absl::StatusOr<std::optional<uint64_t>> adopted =
      context.shared->EnsureHere(session_id, user);
  if (!adopted.ok()) return adopted.status();
  if (adopted->has_value() && call != nullptr) {
    call->AddInitialMetadata(kResumedPulseKey, absl::StrCat(**adopted));
  }
  return absl::OkStatus();
}

}  // namespace hecate

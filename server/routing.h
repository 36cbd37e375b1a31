// Per-session routing across replicas: the metadata keys a proxy and the
// clients share, and the adoption every call about a session goes through.
//
// Clients send `x-hecate-session: <session id>` on every call about a
// session (CreateSession: the id they propose); a ring-hash proxy (nginx
// `hash $http_x_hecate_session consistent`) sends them all to one replica.
// When that replica does not hold the session (its replica drained, died or
// left the ring), EnsureSessionHere adopts it from the shared store
// (sessions/shared_sessions.h) before the call runs, and a unary call then
// answers with `x-hecate-resumed-pulse: <pulse id>` in its initial metadata.
#ifndef HECATE_SERVER_ROUTING_H_
#define HECATE_SERVER_ROUTING_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "server/service_context.h"

namespace hecate {

inline constexpr char kSessionRoutingKey[] = "x-hecate-session";
inline constexpr char kResumedPulseKey[] = "x-hecate-resumed-pulse";

// OK when the session is held here now (or replicas share nothing, or the
// id is malformed: the store refuses it in its own words). Adoption's errors
// otherwise (NOT_FOUND, UNAVAILABLE while another replica holds it). With a
// `call` (unary calls, before they finish), an adoption is reported in its
// initial metadata.
absl::Status EnsureSessionHere(ServiceContext& context, grpc::CallbackServerContext* call,
                               absl::string_view user, absl::string_view session_id);

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Runs `claim` (a store call that claims the session: Acquire, Export,
// Delete) and, when it is ABORTED because the shared store was writing the
// session at that moment (every --checkpoint_interval), waits for that write
// and runs it again, so a client never sees ABORTED for the replica's own
// background work. ABORTED from another client's writer stays ABORTED.
template <typename Claim>
auto RetryAfterPublish(ServiceContext& context, absl::string_view session_id, Claim claim)
    -> decltype(claim()) {
  for (int attempt = 0;; ++attempt) {
    const uint64_t epoch =
        context.shared != nullptr ? context.shared->PublishEpoch(session_id) : 0;
    auto result = claim();
    if (context.shared == nullptr || attempt == 3 || !absl::IsAborted(StatusOf(result)) ||
        !context.shared->WaitForPublish(session_id, epoch)) {
      return result;
    }
  }
}

}  // namespace hecate

#endif  // HECATE_SERVER_ROUTING_H_

// UpdateSession against a live daemon: pinning and unpinning a live session
// within --max_pinned_sessions_per_user (RESOURCE_EXHAUSTED naming it one
// pin too many, nothing changed), another user's session NOT_FOUND exactly
// as a missing one, a bad key UNAUTHENTICATED; flags set later survive a
// drain (SIGTERM) and restart; keep_on_expiry set later makes the session
// stored as "expired-<id>" when it expires.
#include <csignal>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

SessionFlagsUpdate Pin(bool pinned) {
  SessionFlagsUpdate update;
  update.pinned = pinned;
  return update;
}

class SessionUpdateTest : public E2eTest {};

TEST_F(SessionUpdateTest, PinsWithinTheQuotaAndOnlyForTheOwner) {
  StartDaemon({"--max_pinned_sessions_per_user=1"});
  absl::StatusOr<v1::Session> a = alice_->CreateSession();
  absl::StatusOr<v1::Session> b = alice_->CreateSession();
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();

  absl::StatusOr<v1::Session> pinned = alice_->UpdateSession(a->id(), Pin(true));
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_TRUE(pinned->pinned());
  EXPECT_FALSE(pinned->keep_on_expiry());  // not asked: unchanged
  EXPECT_TRUE(alice_->GetSession(a->id())->pinned());
  // Pinning it again takes no second place.
  EXPECT_TRUE(alice_->UpdateSession(a->id(), Pin(true)).ok());

  absl::StatusOr<v1::Session> over = alice_->UpdateSession(b->id(), Pin(true));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
  EXPECT_NE(over.status().message().find("pinned session limit per user (1)"),
            absl::string_view::npos)
      << over.status();
  EXPECT_FALSE(alice_->GetSession(b->id())->pinned());

  // Bob cannot touch alice's session, nor learn that it exists.
  const std::string missing_id(32, '0');
  absl::StatusOr<v1::Session> stolen = bob_->UpdateSession(a->id(), Pin(false));
  absl::StatusOr<v1::Session> missing = bob_->UpdateSession(missing_id, Pin(false));
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kNotFound) << stolen.status();
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_EQ(stolen.status().message(),
            absl::StrReplaceAll(missing.status().message(), {{missing_id, a->id()}}));
  EXPECT_TRUE(alice_->GetSession(a->id())->pinned());
  EXPECT_EQ(Client("unknown-key-0123456789")->UpdateSession(a->id(), Pin(false)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(alice_->UpdateSession("not-a-session-id", Pin(true)).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Unpinning frees the place at once.
  absl::StatusOr<v1::Session> unpinned = alice_->UpdateSession(a->id(), Pin(false));
  ASSERT_TRUE(unpinned.ok()) << unpinned.status();
  EXPECT_FALSE(unpinned->pinned());
  absl::StatusOr<v1::Session> now_b = alice_->UpdateSession(b->id(), Pin(true));
  ASSERT_TRUE(now_b.ok()) << now_b.status();
  EXPECT_TRUE(now_b->pinned());
}

TEST_F(SessionUpdateTest, FlagsSetLaterSurviveDrainAndRestart) {
  StartDaemon();
  absl::StatusOr<v1::Session> session = alice_->CreateSession();
  ASSERT_TRUE(session.ok()) << session.status();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(session->id(), Text(64, 3), 1)).ok());
  ASSERT_TRUE(stream->Finish().ok());
  SessionFlagsUpdate both;
  both.pinned = true;
  both.keep_on_expiry = true;
  ASSERT_TRUE(alice_->UpdateSession(session->id(), both).ok());

  absl::StatusOr<int> code = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0);
  StartDaemon();  // the same state directory
  absl::StatusOr<v1::Session> back = alice_->GetSession(session->id());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pulse_id(), 64u);
  EXPECT_TRUE(back->pinned());
  EXPECT_TRUE(back->keep_on_expiry());
}

TEST_F(SessionUpdateTest, KeepOnExpirySetLaterStoresTheSessionByName) {
  StartDaemon({"--session_ttl=4s"});  // room for the update under load
  absl::StatusOr<v1::Session> session = alice_->CreateSession();
  ASSERT_TRUE(session.ok()) << session.status();
  SessionFlagsUpdate keep;
  keep.keep_on_expiry = true;
  absl::StatusOr<v1::Session> kept = alice_->UpdateSession(session->id(), keep);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->keep_on_expiry());

  // Gone within the TTL plus a sweep period (bounded at 30 s).
  const absl::Time limit = absl::Now() + absl::Seconds(30);
  while (alice_->GetSession(session->id()).ok() && absl::Now() < limit) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(alice_->GetSession(session->id()).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<v1::ListCheckpointsResponse> list = alice_->ListCheckpoints();
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const v1::CheckpointInfo& c : list->checkpoints()) names.push_back(c.name());
  EXPECT_EQ(names, std::vector<std::string>{absl::StrCat("expired-", session->id())});
}

}  // namespace
}  // namespace hecate::testing

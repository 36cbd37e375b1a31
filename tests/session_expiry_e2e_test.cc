// Session expiry against a live daemon (--session_ttl=1s): an idle session
// is deleted; one created with keep_on_expiry is stored as checkpoint
// "expired-<id>" first, listed by ListCheckpoints, and RestoreCheckpoint by
// that name brings it back at the same pulse id with the same digest. Also
// the pin quota (--max_pinned_sessions_per_user) refusing one pin too many,
// and a per-user session_ttl in the key file: that user's idle session
// expires while one of a user on the default does not.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

// Polls GetSession until the session is gone (bounded: the sweep runs every
// 250 ms with a 1 s TTL, so it is gone well within the limit).
absl::Status WaitUntilGone(HecateClient& client, const std::string& id) {
  const absl::Time limit = absl::Now() + absl::Seconds(30);
  for (;;) {
    absl::StatusOr<v1::Session> got = client.GetSession(id);
    if (!got.ok()) return got.status();
    if (absl::Now() > limit) return absl::DeadlineExceededError("session never expired");
    absl::SleepFor(absl::Milliseconds(100));
  }
}

class SessionExpiryTest : public E2eTest {};

TEST_F(SessionExpiryTest, KeepOnExpiryRestoresByName) {
  StartDaemon({"--session_ttl=1s"});
  CreateSessionOptions keep_options;
  keep_options.keep_on_expiry = true;
  absl::StatusOr<v1::Session> kept = alice_->CreateSession(keep_options);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->keep_on_expiry());
  absl::StatusOr<v1::Session> plain = alice_->CreateSession();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->keep_on_expiry());

  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(kept->id(), Text(120, 7), 1)).ok());
  ASSERT_TRUE(stream->Call(TopKRequest(plain->id(), Text(80, 8), 1)).ok());
  ASSERT_TRUE(stream->Finish().ok());
  absl::StatusOr<v1::Session> before = alice_->GetSession(kept->id());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->pulse_id(), 120u);

  absl::Status gone = WaitUntilGone(*alice_, kept->id());
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound) << gone;
  gone = WaitUntilGone(*alice_, plain->id());
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound) << gone;

  const std::string name = absl::StrCat("expired-", kept->id());
  absl::StatusOr<v1::ListCheckpointsResponse> list = alice_->ListCheckpoints();
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const v1::CheckpointInfo& c : list->checkpoints()) {
    names.push_back(c.name());
    if (c.name() == name) {
      ASSERT_TRUE(c.has_pulse_id());
      EXPECT_EQ(c.pulse_id(), 120u);
    }
  }
  // The plain session left nothing behind.
  EXPECT_EQ(names, std::vector<std::string>{name});

  v1::RestoreCheckpointRequest by_name;
  by_name.set_checkpoint_name(name);
  by_name.set_expected_digest(before->transcript_digest());
  absl::StatusOr<v1::Session> restored = alice_->RestoreCheckpoint(by_name);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->pulse_id(), 120u);
  EXPECT_EQ(restored->transcript_digest(), before->transcript_digest());

  // Another user cannot see or restore it.
  absl::StatusOr<v1::Session> stolen = bob_->RestoreCheckpoint(by_name);
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kNotFound) << stolen.status();
}

TEST_F(SessionExpiryTest, PerUserTtlFromTheKeyFile) {
  constexpr char kCarolKey[] = "carol-key-0123456789abcdef";
  extra_key_lines_ = {absl::StrCat("carol:", kCarolKey, " session_ttl=1s")};
  StartDaemon({"--session_ttl=1h"});
  std::unique_ptr<HecateClient> carol = Client(kCarolKey);
  absl::StatusOr<v1::Session> carols = carol->CreateSession();
  ASSERT_TRUE(carols.ok()) << carols.status();
  absl::StatusOr<v1::Session> alices = alice_->CreateSession();
  ASSERT_TRUE(alices.ok()) << alices.status();

  absl::Status gone = WaitUntilGone(*carol, carols->id());
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound) << gone;
  // Alice's, idle nearly as long (created just after), has the default hour.
  absl::StatusOr<v1::Session> still = alice_->GetSession(alices->id());
  EXPECT_TRUE(still.ok()) << still.status();
}

TEST_F(SessionExpiryTest, PinQuotaRefusesOneTooMany) {
  StartDaemon({"--max_pinned_sessions_per_user=1"});
  CreateSessionOptions pin;
  pin.pinned = true;
  absl::StatusOr<v1::Session> first = alice_->CreateSession(pin);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->pinned());
  absl::StatusOr<v1::Session> second = alice_->CreateSession(pin);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted) << second.status();
  EXPECT_NE(second.status().message().find("pinned session limit per user (1)"),
            absl::string_view::npos)
      << second.status();
  absl::StatusOr<v1::Session> plain = alice_->CreateSession();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->pinned());
  EXPECT_TRUE(bob_->CreateSession(pin).ok());
}

}  // namespace
}  // namespace hecate::testing

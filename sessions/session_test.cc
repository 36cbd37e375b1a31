#include "sessions/session.h"

#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

Session MakeSession(const std::string& id) {
  return Session(id, "alice", std::string(64, 'f'), 1234, 7, absl::Now());
}

TEST(SessionIdTest, IdsAre128RandomBitsAsLowercaseHex) {
  std::set<std::string> ids;
  int bits_set = 0;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> id = NewSessionId();
    ASSERT_TRUE(id.ok()) << id.status();
    ASSERT_TRUE(ValidateSessionId(*id).ok()) << *id;
    ids.insert(*id);
    for (char c : *id) bits_set += __builtin_popcount(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  EXPECT_EQ(ids.size(), 1000u);
  // 128,000 random bits: about half set (far outside 6 sigma otherwise).
  EXPECT_GT(bits_set, 64000 - 1100);
  EXPECT_LT(bits_set, 64000 + 1100);
}

TEST(SessionIdTest, MalformedIdsAreInvalidArgument) {
  for (std::string bad : {std::string(""), std::string(31, 'a'), std::string(33, 'a'),
                          std::string(32, 'A'), std::string(31, 'a') + "g",
                          std::string(31, 'a') + "/"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ValidateSessionId(bad))) << bad;
  }
}

TEST(SessionTest, InfoReportsWhatItWasGiven) {
  Session s = MakeSession("00112233445566778899aabbccddeeff");
  s.RecordUse(10, 3, 1, absl::Now());
  s.RecordUse(5, 0, 2, absl::Now());
  SessionInfo info = s.Info();
  EXPECT_EQ(info.id, "00112233445566778899aabbccddeeff");
  EXPECT_EQ(info.owner, "alice");
  EXPECT_EQ(info.pulse_id, 7u);
  EXPECT_EQ(info.state_bytes, 1234u);
  EXPECT_EQ(info.tokens_in, 15u);
  EXPECT_EQ(info.tokens_out, 3u);
  EXPECT_EQ(s.last_use_sequence(), 2u);
  EXPECT_EQ(info.residency, Residency::kDisk);  // holds no state yet
}

TEST(SessionTest, SecondWriterIsAbortedNamingTheSession) {
  Session s = MakeSession("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(s.BeginWrite(false).ok());
  absl::Status second = s.BeginWrite(false);
  EXPECT_TRUE(absl::IsAborted(second)) << second;
  EXPECT_NE(second.message().find("00112233445566778899aabbccddeeff is busy"),
            absl::string_view::npos);
  EXPECT_FALSE(s.TryBeginWrite());
  s.EndWrite();
  EXPECT_TRUE(s.TryBeginWrite());
  s.EndWrite();
}

// A request finding the session held by the daemon (an eviction, the
// expiry sweep) waits for it instead of being refused; a request finding it
// held by another request is still refused at once.
TEST(SessionTest, ARequestWaitsForTheDaemonsClaimButNotAnotherRequests) {
  Session s = MakeSession("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(s.TryBeginWrite(Session::Claimant::kDaemon));
  absl::Notification started;
  absl::Status waited = absl::UnknownError("not run");
  std::thread request([&] {
    started.Notify();
    waited = s.BeginWrite(false);
  });
  started.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(waited.code(), absl::StatusCode::kUnknown) << "refused while the daemon held it";
  s.EndWrite();  // the move is done
  request.join();
  EXPECT_TRUE(waited.ok()) << waited;
  // Now a request holds it: a second request is refused, not queued.
  absl::Status second = s.BeginWrite(false);
  EXPECT_TRUE(absl::IsAborted(second)) << second;
  s.EndWrite();
  // A daemon claim ended by deleting the session: the waiter gets NOT_FOUND.
  ASSERT_TRUE(s.TryBeginWrite(Session::Claimant::kDaemon));
  std::thread late([&] { waited = s.BeginWrite(false); });
  absl::SleepFor(absl::Milliseconds(20));
  s.Close();
  late.join();
  EXPECT_TRUE(absl::IsNotFound(waited)) << waited;
}

TEST(SessionTest, WaitingWriterGetsTheClaimReleasedOnAnotherThread) {
  Session s = MakeSession("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(s.BeginWrite(false).ok());
  absl::Status waited = absl::UnknownError("not run");
  std::thread waiter([&] { waited = s.BeginWrite(true); });
  std::thread releaser([&] { s.EndWrite(); });
  releaser.join();
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited;
  EXPECT_TRUE(s.busy());
}

TEST(SessionTest, CloseWakesWaitersWithNotFound) {
  Session s = MakeSession("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(s.BeginWrite(false).ok());
  absl::Status waited = absl::UnknownError("not run");
  std::thread waiter([&] { waited = s.BeginWrite(true); });
  s.Close();
  s.EndWrite();
  waiter.join();
  EXPECT_TRUE(absl::IsNotFound(waited)) << waited;
  EXPECT_TRUE(absl::IsNotFound(s.BeginWrite(false)));
  EXPECT_FALSE(s.TryBeginWrite());
}

TEST(SessionTest, DamageIsReportedUntilCleared) {
  Session s = MakeSession("00112233445566778899aabbccddeeff");
  EXPECT_TRUE(s.damage().empty());
  s.MarkDamaged("lost");
  EXPECT_EQ(s.damage(), "lost");
  s.ClearDamage();
  EXPECT_TRUE(s.damage().empty());
}

}  // namespace
}  // namespace hecate

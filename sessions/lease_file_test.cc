#include "sessions/lease_file.h"

#include <string>

#include "absl/time/time.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

constexpr char kId[] = "0123456789abcdef0123456789abcdef";
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

TEST(LeaseDirTest, OneHolderAtATime) {
  const std::string dir = TestTempDir("leases");
  LeaseDir a = *LeaseDir::Open(dir, "replica-a", absl::Seconds(10));
  LeaseDir b = *LeaseDir::Open(dir, "replica-b", absl::Seconds(10));
  ASSERT_TRUE(a.Acquire(kId, kNow).ok());
  const absl::Status refused = b.Acquire(kId, kNow + absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_NE(refused.message().find("replica-a"), std::string::npos) << refused;
  EXPECT_EQ(a.Read(kId)->replica, "replica-a");
  // Renewed, it stays a's past its first expiry.
  ASSERT_TRUE(a.Renew(kId, kNow + absl::Seconds(8)).ok());
  EXPECT_TRUE(absl::IsUnavailable(b.Acquire(kId, kNow + absl::Seconds(12))));
  // Released, b takes it at once.
  ASSERT_TRUE(a.Release(kId).ok());
  ASSERT_TRUE(b.Acquire(kId, kNow + absl::Seconds(12)).ok());
  EXPECT_EQ(b.Read(kId)->replica, "replica-b");
  // a's renewal now reports the loss, and a's release leaves b's lease alone.
  EXPECT_TRUE(absl::IsFailedPrecondition(a.Renew(kId, kNow + absl::Seconds(13))));
  ASSERT_TRUE(a.Release(kId).ok());
  EXPECT_EQ(b.Read(kId)->replica, "replica-b");
}

TEST(LeaseDirTest, ExpiredLeaseIsStolenAndItsHolderLearnsIt) {
  const std::string dir = TestTempDir("leases");
  LeaseDir a = *LeaseDir::Open(dir, "replica-a", absl::Seconds(10));
  LeaseDir b = *LeaseDir::Open(dir, "replica-b", absl::Seconds(10));
  ASSERT_TRUE(a.Acquire(kId, kNow).ok());
  // a died (no renewal): after the expiry b takes it over.
  ASSERT_TRUE(b.Acquire(kId, kNow + absl::Seconds(11)).ok());
  EXPECT_EQ(b.Read(kId)->replica, "replica-b");
  EXPECT_TRUE(absl::IsFailedPrecondition(a.Renew(kId, kNow + absl::Seconds(12))));
}

TEST(LeaseDirTest, RestartedReplicaTakesOverItsOwnLease) {
  const std::string dir = TestTempDir("leases");
  LeaseDir before = *LeaseDir::Open(dir, "hecate-0", absl::Seconds(10));
  ASSERT_TRUE(before.Acquire(kId, kNow).ok());
  LeaseDir after = *LeaseDir::Open(dir, "hecate-0", absl::Seconds(10));
  ASSERT_TRUE(after.Acquire(kId, kNow + absl::Seconds(1)).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(before.Renew(kId, kNow + absl::Seconds(2))));
  EXPECT_TRUE(after.Renew(kId, kNow + absl::Seconds(2)).ok());
}

TEST(LeaseDirTest, HandoverRequests) {
  const std::string dir = TestTempDir("leases");
  LeaseDir a = *LeaseDir::Open(dir, "replica-a", absl::Seconds(10));
  EXPECT_FALSE(a.HandoverRequested(kId));
  a.RequestHandover(kId);
  EXPECT_TRUE(a.HandoverRequested(kId));
  a.ClearHandover(kId);
  EXPECT_FALSE(a.HandoverRequested(kId));
}

TEST(LeaseDirTest, RefusesBadNames) {
  const std::string dir = TestTempDir("leases");
  EXPECT_FALSE(LeaseDir::Open(dir, "../x", absl::Seconds(10)).ok());
  EXPECT_FALSE(LeaseDir::Open(dir, "a", absl::ZeroDuration()).ok());
  LeaseDir a = *LeaseDir::Open(dir, "a", absl::Seconds(10));
  EXPECT_TRUE(absl::IsInvalidArgument(a.Acquire("../etc", kNow)));
}

}  // namespace
}  // namespace hecate

#include "server/auth.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "base/test_temp_dir.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(ApiKeysTest, DisabledMeansAnonymous) {
  ApiKeys keys;
  EXPECT_FALSE(keys.enabled());
  EXPECT_EQ(*keys.Authenticate(""), "anonymous");
}

TEST(ApiKeysTest, MapsBearerKeysToUsers) {
  auto keys = ApiKeys::FromText("# users\nalice:alice-key-0123456789\n\nbob:bob-key-abcdefghijklmn\n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*(*keys)->Authenticate("Bearer alice-key-0123456789"), "alice");
  EXPECT_EQ(*(*keys)->Authenticate("Bearer bob-key-abcdefghijklmn"), "bob");
  for (const char* bad : {"", "alice-key-0123456789", "Bearer ", "Bearer alice-key-012345678",
                          "Bearer alice-key-0123456789x", "bearer alice-key-0123456789"}) {
    absl::StatusOr<std::string> user = (*keys)->Authenticate(bad);
    ASSERT_FALSE(user.ok()) << bad;
    EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST(ApiKeysTest, RejectsBadFilesWithTheLine) {
  for (const char* text : {"", "nocolon\n", "a/b:0123456789abcdef\n", "alice:short\n",
                           "a:0123456789abcdef\nb:0123456789abcdef\n"}) {
    auto keys = ApiKeys::FromText(text);
    EXPECT_FALSE(keys.ok()) << text;
  }
  EXPECT_NE(ApiKeys::FromText("ok:0123456789abcdef\nbad\n").status().message().find("line 2"),
            std::string::npos);
}

TEST(ApiKeysTest, SessionTtlIsAPerUserSetting) {
  auto keys = ApiKeys::FromText(
      "alice:alice-key-0123456789 session_ttl=30m\n"
      "alice:alice-key-second-0123\n"  // one setting for all of alice's keys
      "bob:bob-key-abcdefghijklmn\n"
      "carol:carol-key-0123456789\tsession_ttl=0\n"
      "dave:dave-key-0123456789   session_ttl=90s   \n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)->SessionTtl("alice"), absl::Minutes(30));
  EXPECT_EQ((*keys)->SessionTtl("bob"), std::nullopt);
  EXPECT_EQ((*keys)->SessionTtl("carol"), absl::ZeroDuration());  // never
  EXPECT_EQ((*keys)->SessionTtl("dave"), absl::Seconds(90));
  EXPECT_EQ((*keys)->ShortestSessionTtl(), absl::Seconds(90));  // 0 means never
  EXPECT_EQ(*(*keys)->Authenticate("Bearer alice-key-0123456789"), "alice");
  EXPECT_EQ(*(*keys)->Authenticate("Bearer dave-key-0123456789"), "dave");
  EXPECT_EQ((*ApiKeys::FromText("bob:bob-key-abcdefghijklmn\n"))->ShortestSessionTtl(),
            std::nullopt);
}

TEST(ApiKeysTest, KeysWithWhitespaceStayAsTheyWere) {
  // Before settings existed the key was everything after the colon; it
  // still is, up to the settings.
  auto keys = ApiKeys::FromText(
      "bob: bob-key-fedcba9876543210\n"
      "eve:eve key with spaces 0123 session_ttl=5m\n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*(*keys)->Authenticate("Bearer  bob-key-fedcba9876543210"), "bob");
  EXPECT_EQ(*(*keys)->Authenticate("Bearer eve key with spaces 0123"), "eve");
  EXPECT_EQ((*keys)->SessionTtl("eve"), absl::Minutes(5));
}

TEST(ApiKeysTest, RejectsBadSettingsWithTheLine) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"a:0123456789abcdef session_ttl=soon\n", "line 1: session_ttl must be a duration"},
           {"a:0123456789abcdef session_ttl=-5s\n", "session_ttl must be a duration"},
           {"a:0123456789abcdef session_ttl=inf\n", "session_ttl must be a duration"},
           {"a:0123456789abcdef ttl=5s\n", "unknown setting 'ttl'"},
           {"a:0123456789abcdef extra=1\n", "unknown setting 'extra'"},
           {"a:0123456789abcdef session_ttl=1m ttl=5s\n", "unknown setting 'ttl'"},
           {"a:session_ttl=1m\n", "key shorter than"},
           {"a: session_ttl=1m\n", "key shorter than"},
           {"a:0123456789abcdef session_ttl=1m\na:fedcba9876543210 session_ttl=2m\n",
            "line 2: session_ttl of user a differs"},
       }) {
    absl::StatusOr<std::unique_ptr<ApiKeys>> keys = ApiKeys::FromText(c.text);
    ASSERT_FALSE(keys.ok()) << c.text;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(keys.status().message().find(c.says), std::string::npos) << keys.status();
  }
}

TEST(ApiKeysTest, ReloadReplacesSessionTtls) {
  const std::string path = TestTempPath("keys");
  std::ofstream(path) << "alice:first-key-0123456789 session_ttl=1h\n";
  auto keys = ApiKeys::FromFile(path);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)->SessionTtl("alice"), absl::Hours(1));
  std::ofstream(path) << "alice:first-key-0123456789\n";
  ASSERT_TRUE((*keys)->Reload().ok());
  EXPECT_EQ((*keys)->SessionTtl("alice"), std::nullopt);
}

TEST(ApiKeysTest, ReloadSwapsKeysAndKeepsOldOnError) {
  const std::string path = TestTempPath("keys");
  std::ofstream(path) << "alice:first-key-0123456789\n";
  auto keys = ApiKeys::FromFile(path);
  ASSERT_TRUE(keys.ok());
  std::ofstream(path) << "alice:second-key-0123456789\n";
  ASSERT_TRUE((*keys)->Reload().ok());
  EXPECT_FALSE((*keys)->Authenticate("Bearer first-key-0123456789").ok());
  EXPECT_EQ(*(*keys)->Authenticate("Bearer second-key-0123456789"), "alice");
  std::ofstream(path) << "garbage\n";
  EXPECT_FALSE((*keys)->Reload().ok());
  EXPECT_EQ(*(*keys)->Authenticate("Bearer second-key-0123456789"), "alice");
}

}  // namespace
}  // namespace hecate

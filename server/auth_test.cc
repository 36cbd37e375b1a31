#include "server/auth.h"

#include <cstdio>
#include <fstream>
#include <string>

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

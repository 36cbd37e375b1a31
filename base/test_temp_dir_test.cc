#include "base/test_temp_dir.h"

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(TestTempDirTest, PathsAreUniqueAndUnderTheRoot) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string path = TestTempPath("x");
    EXPECT_TRUE(absl::StartsWith(path, TestTempRoot() + "/x-")) << path;
    EXPECT_FALSE(std::filesystem::exists(path)) << path;
    EXPECT_TRUE(seen.insert(path).second) << "twice: " << path;
  }
}

TEST(TestTempDirTest, DirIsCreatedEmpty) {
  const std::string dir = TestTempDir("store");
  ASSERT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  EXPECT_NE(TestTempDir("store"), dir);
}

}  // namespace
}  // namespace hecate

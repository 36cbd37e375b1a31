#include "client/file_io.h"

#include <dirent.h>

#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string RandomBytes(std::mt19937_64& random, size_t size) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(byte(random));
  return bytes;
}

int CountEntries(const std::string& dir) {
  int count = 0;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return -1;
  while (readdir(handle) != nullptr) ++count;
  closedir(handle);
  return count;
}

TEST(FileIoTest, WritesAndReadsBackRandomBytes) {
  std::mt19937_64 random(TestSeed());
  const std::string path = TestTempPath("roundtrip");
  for (size_t size : {size_t{0}, size_t{1}, size_t{65535}, size_t{65537}, size_t{300001}}) {
    const std::string data = RandomBytes(random, size);
    ASSERT_TRUE(WriteFileAtomically(path, data).ok());
    absl::StatusOr<std::string> read = ReadFileToString(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, data);
  }
}

TEST(FileIoTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = TestTempPath("does_not_exist");
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_NE(read.status().message().find(path), absl::string_view::npos);
}

TEST(FileIoTest, FailedWriteLeavesNoTemporaryFileAndKeepsTheOldFile) {
  const std::string dir = TestTempDir("file_io");
  const std::string missing_dir = absl::StrCat(dir, "/no_such_dir");
  absl::Status status = WriteFileAtomically(absl::StrCat(missing_dir, "/file"), "data");
  EXPECT_TRUE(absl::IsNotFound(status)) << status;

  // Renaming onto a directory fails after the temp file was written: the
  // directory is untouched and the temp file is gone.
  const std::string target = absl::StrCat(dir, "/a_directory");
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", target, "/inner").c_str()), 0);
  const int entries_before = CountEntries(dir);
  EXPECT_FALSE(WriteFileAtomically(target, "data").ok());
  EXPECT_EQ(CountEntries(dir), entries_before);
  EXPECT_EQ(CountEntries(target), 3);  // ".", "..", "inner"
}

}  // namespace
}  // namespace hecate

#include "client/file_io.h"

#include <dirent.h>

#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

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
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  const std::string path = absl::StrCat(TempDir(), "/roundtrip_", seed);
  for (size_t size : {size_t{0}, size_t{1}, size_t{65535}, size_t{65537}, size_t{300001}}) {
    const std::string data = RandomBytes(random, size);
    ASSERT_TRUE(WriteFileAtomically(path, data).ok());
    absl::StatusOr<std::string> read = ReadFileToString(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, data);
  }
}

TEST(FileIoTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = absl::StrCat(TempDir(), "/does_not_exist_", std::random_device()());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_NE(read.status().message().find(path), absl::string_view::npos);
}

TEST(FileIoTest, FailedWriteLeavesNoTemporaryFileAndKeepsTheOldFile) {
  const std::string dir = TempDir();
  const std::string missing_dir = absl::StrCat(dir, "/no_such_dir_", std::random_device()());
  absl::Status status = WriteFileAtomically(absl::StrCat(missing_dir, "/file"), "data");
  EXPECT_TRUE(absl::IsNotFound(status)) << status;

  // Renaming onto a directory fails after the temp file was written: the
  // directory is untouched and the temp file is gone.
  const std::string target = absl::StrCat(dir, "/a_directory_", std::random_device()());
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", target, "/inner").c_str()), 0);
  const int entries_before = CountEntries(dir);
  EXPECT_FALSE(WriteFileAtomically(target, "data").ok());
  EXPECT_EQ(CountEntries(dir), entries_before);
  EXPECT_EQ(CountEntries(target), 3);  // ".", "..", "inner"
}

}  // namespace
}  // namespace hecate

#include "base/test_temp_dir.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace hecate {

std::string TestTempRoot() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

std::string TestTempPath(absl::string_view name) {
  static std::atomic<uint64_t> calls{0};
  return absl::StrCat(TestTempRoot(), "/", name, "-", getpid(), "-", ++calls, "-",
                      std::random_device{}());
}

std::string TestTempDir(absl::string_view name) {
  const std::string dir = TestTempPath(name);
  std::error_code error;
  if (!std::filesystem::create_directories(dir, error)) {
    std::fprintf(stderr, "TestTempDir: cannot create %s: %s\n", dir.c_str(),
                 error.message().c_str());
    std::abort();
  }
  return dir;
}

}  // namespace hecate

#include "sessions/free_space.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hecate {
namespace {

absl::Status ErrnoError(int err, absl::string_view what, const std::string& path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  return err == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
}

}  // namespace

absl::StatusOr<uint64_t> FilesystemFreeBytes(const std::string& dir) {
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) return ErrnoError(errno, "cannot statvfs", dir);
  return static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_frsize);
}

absl::StatusOr<bool> SameFilesystem(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) != 0) return ErrnoError(errno, "cannot stat", a);
  if (::stat(b.c_str(), &sb) != 0) return ErrnoError(errno, "cannot stat", b);
  return sa.st_dev == sb.st_dev;
}

}  // namespace hecate

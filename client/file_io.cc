#include "client/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hecate {
namespace {

absl::Status OsError(int error_number, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(what, " ", path));
}

// Closes the descriptor on every path out of a function.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and reports the result (close can report a failed write).
  int Close() {
    int result = close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadFileToString(absl::string_view path) {
  const std::string path_string(path);
  int fd = open(path_string.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OsError(errno, "cannot open", path);
  FdCloser closer(fd);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return OsError(errno, "cannot read", path);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

absl::Status WriteFileAtomically(absl::string_view path, absl::string_view data) {
  const std::string temp_path = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return OsError(errno, "cannot create", temp_path);
  FdCloser closer(fd);
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = OsError(errno, "cannot write", temp_path);
      unlink(temp_path.c_str());
      return status;
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || closer.Close() != 0) {
    absl::Status status = OsError(errno, "cannot flush", temp_path);
    unlink(temp_path.c_str());
    return status;
  }
  const std::string path_string(path);
  if (rename(temp_path.c_str(), path_string.c_str()) != 0) {
    absl::Status status = OsError(errno, "cannot rename to", path);
    unlink(temp_path.c_str());
    return status;
  }
  return absl::OkStatus();
}

}  // namespace hecate

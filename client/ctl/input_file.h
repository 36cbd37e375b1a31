// InputFile: the FILE argument of a verb that reads text (stream, eval),
// or stdin for "-" or no argument.
#ifndef HECATE_CLIENT_CTL_INPUT_FILE_H_
#define HECATE_CLIENT_CTL_INPUT_FILE_H_

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hecate {

// Owns the descriptor it opened (never stdin).
class InputFile {
 public:
  InputFile() = default;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() {
    if (fd_ != STDIN_FILENO) close(fd_);
  }

  // Opens `path`; "" or "-" keeps stdin. The OS error names the path.
  absl::Status Open(const std::string& path) {
    if (path.empty() || path == "-") return absl::OkStatus();
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
    fd_ = fd;
    return absl::OkStatus();
  }
  int fd() const { return fd_; }

 private:
  int fd_ = STDIN_FILENO;
};

}  // namespace hecate

#endif  // HECATE_CLIENT_CTL_INPUT_FILE_H_

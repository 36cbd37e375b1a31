// Whole-file reads and atomic writes for the client side (TLS roots,
// checkpoint files that `hecatectl checkpoint --out` writes and `restore --in`
// reads).
#ifndef HECATE_CLIENT_FILE_IO_H_
#define HECATE_CLIENT_FILE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hecate {

// The file's bytes. NOT_FOUND / PERMISSION_DENIED / ... naming the path and
// the OS error.
absl::StatusOr<std::string> ReadFileToString(absl::string_view path);

// Writes `data` to `path` through a temporary file in the same directory,
// fsync and rename, so `path` holds either its old contents or all of `data`.
absl::Status WriteFileAtomically(absl::string_view path, absl::string_view data);

}  // namespace hecate

#endif  // HECATE_CLIENT_FILE_IO_H_

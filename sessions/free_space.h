// Free space on the filesystem that holds a directory, as the session store
// sees it: the bytes an unprivileged writer may still use (statvfs f_bavail
// x f_frsize), and whether two directories share one filesystem.
//
// The store asks through a FreeSpaceFn so that tests can stand in for a
// small or full disk (no root, no tmpfs mounts):
//
//   FreeSpaceFn probe = FilesystemFreeBytes;          // the real one
//   FreeSpaceFn tiny = [](const std::string&) -> absl::StatusOr<uint64_t> {
//     return 3 << 20;                                 // a 3 MiB disk
//   };
#ifndef HECATE_SESSIONS_FREE_SPACE_H_
#define HECATE_SESSIONS_FREE_SPACE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace hecate {

// Bytes still free for writers on the filesystem of `dir`; an error when it
// cannot be asked (the caller then writes and lets ENOSPC speak).
using FreeSpaceFn = std::function<absl::StatusOr<uint64_t>(const std::string& dir)>;

// statvfs(dir): f_bavail * f_frsize. INTERNAL (or NOT_FOUND) on failure.
absl::StatusOr<uint64_t> FilesystemFreeBytes(const std::string& dir);

// Whether `a` and `b` (both existing) are on one filesystem (same st_dev).
absl::StatusOr<bool> SameFilesystem(const std::string& a, const std::string& b);

}  // namespace hecate

#endif  // HECATE_SESSIONS_FREE_SPACE_H_

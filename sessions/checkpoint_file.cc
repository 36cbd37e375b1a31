#include "sessions/checkpoint_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace hecate {
namespace {

constexpr absl::string_view kTempPrefix = ".tmp-";
constexpr absl::string_view kSessionSuffix = ".ckpt";
constexpr absl::string_view kMetadataSuffix = ".meta";
constexpr size_t kMaxMetadataBytes = 4096;

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

// mkdir that tolerates an existing directory but not a file or a symlink.
absl::Status EnsureDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return absl::OkStatus();
  const int err = errno;
  if (err != EEXIST) return ErrnoStatus(err, "cannot create directory", path);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a directory (symlinks are refused)"));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open directory", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "cannot fsync directory", dir);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Unique among this process's writes and (by writer token and pid) among
// processes sharing the directory, from this host or another.
std::string TempName(absl::string_view file_name) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(kTempPrefix, file_name, "-", TempWriterToken(), "-", ::getpid(), "-",
                      counter.fetch_add(1));
}

uint64_t Fnv1a(absl::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Whether a temporary file named `file` is a dead writer's of this pid
// namespace on this boot: `.tmp-<target>-<token>-<pid>-<n>` with our token
// and a pid that is not running (and is not ours: this process's own writes
// may be under way).
bool WrittenByDeadLocalWriter(absl::string_view file) {
  const std::vector<absl::string_view> fields = absl::StrSplit(file, '-');
  // ".tmp", the target's one or more fields, token, pid, n.
  if (fields.size() < 5) return false;
  const absl::string_view token = fields[fields.size() - 3];
  uint64_t n = 0;
  int pid = 0;
  if (token != TempWriterToken() || !absl::SimpleAtoi(fields.back(), &n) ||
      !absl::SimpleAtoi(fields[fields.size() - 2], &pid) || pid <= 0 || pid == ::getpid()) {
    return false;
  }
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Names of the entries of `dir` (without "." and ".."); NOT_FOUND if missing.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "cannot list", dir);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    absl::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

}  // namespace

const std::string& TempWriterToken() {
  static const std::string* token = [] {
    std::string boot_id;
    std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
    char ns[64];
    const ssize_t n = ::readlink("/proc/self/ns/pid", ns, sizeof(ns));
    if (boot_id.empty() || n <= 0) return new std::string("unknown");
    const uint64_t h = Fnv1a(absl::StrCat(boot_id, "/", absl::string_view(ns, n)));
    return new std::string(absl::StrCat(absl::Hex(h, absl::kZeroPad16)));
  }();
  return *token;
}

absl::Status ValidateName(absl::string_view what, absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must have 1..", kMaxNameLength,
                                                   " characters, got ", name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " may only contain [A-Za-z0-9._-]; found byte 0x",
                       absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2)));
    }
  }
  if (name[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat(what, " must not start with '.'"));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& dir, absl::string_view file_name,
                                 absl::string_view bytes, const WriteStepHook& hook) {
  const std::string target = absl::StrCat(dir, "/", file_name);
  const std::string temp = absl::StrCat(dir, "/", TempName(file_name));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, "cannot create", temp);
  auto fail = [&](absl::Status s, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(temp.c_str());
    return s;
  };
  if (absl::Status s = WriteAll(fd, bytes, temp); !s.ok()) return fail(s, true);
  if (hook) hook(WriteStep::kTempWritten);
  if (::fsync(fd) != 0) return fail(ErrnoStatus(errno, "cannot fsync", temp), true);
  if (::close(fd) != 0) return fail(ErrnoStatus(errno, "cannot close", temp), false);
  if (hook) hook(WriteStep::kTempSynced);
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    return fail(ErrnoStatus(errno, "cannot rename into", target), false);
  }
  if (hook) hook(WriteStep::kRenamed);
  // The rename is only durable once the directory entry is on disk.
  HECATE_RETURN_IF_ERROR(SyncDirectory(dir));
  if (hook) hook(WriteStep::kDirSynced);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileLimited(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(path, " has ", st.st_size,
                                            " bytes, more than a checkpoint's ", max_bytes));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      if (n == 0) return absl::DataLossError(absl::StrCat(path, " shrank while being read"));
      return ErrnoStatus(err, "cannot read", path);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return bytes;
}

absl::StatusOr<CheckpointDir> CheckpointDir::Open(const std::string& state_dir) {
  if (state_dir.empty()) return absl::InvalidArgumentError("state directory must be given");
  std::string root = state_dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  HECATE_RETURN_IF_ERROR(EnsureDirectory(root));
  HECATE_RETURN_IF_ERROR(EnsureDirectory(root + "/users"));
  return CheckpointDir(std::move(root));
}

absl::StatusOr<std::string> CheckpointDir::UserDir(absl::string_view user, absl::string_view kind,
                                                   bool create) const {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", user));
  const std::string user_dir = absl::StrCat(root_, "/users/", user);
  const std::string dir = absl::StrCat(user_dir, "/", kind);
  if (create) {
    HECATE_RETURN_IF_ERROR(EnsureDirectory(user_dir));
    HECATE_RETURN_IF_ERROR(EnsureDirectory(dir));
  }
  return dir;
}

absl::Status CheckpointDir::WriteNamed(absl::string_view user, absl::string_view name,
                                       absl::string_view bytes) const {
  HECATE_RETURN_IF_ERROR(ValidateName("checkpoint name", name));
  HECATE_ASSIGN_OR_RETURN(std::string dir, UserDir(user, "checkpoints", /*create=*/true));
  return WriteFileAtomically(dir, name, bytes, hook_);
}

absl::StatusOr<std::string> CheckpointDir::ReadNamed(absl::string_view user, absl::string_view name,
                                                     size_t max_bytes) const {
  HECATE_RETURN_IF_ERROR(ValidateName("checkpoint name", name));
  HECATE_ASSIGN_OR_RETURN(std::string dir, UserDir(user, "checkpoints", /*create=*/false));
  absl::StatusOr<std::string> bytes = ReadFileLimited(absl::StrCat(dir, "/", name), max_bytes);
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("no checkpoint named '", name, "'"));
  }
  return bytes;
}

absl::StatusOr<std::vector<std::string>> CheckpointDir::ListNamed(absl::string_view user) const {
  HECATE_ASSIGN_OR_RETURN(std::string dir, UserDir(user, "checkpoints", /*create=*/false));
  absl::StatusOr<std::vector<std::string>> entries = ListDirectory(dir);
  if (absl::IsNotFound(entries.status())) return std::vector<std::string>{};
  if (!entries.ok()) return entries.status();
  std::vector<std::string> names;
  for (std::string& e : *entries) {
    if (ValidateName("checkpoint name", e).ok()) names.push_back(std::move(e));
  }
  return names;
}

absl::StatusOr<std::string> CheckpointDir::SessionsDir(absl::string_view user,
                                                       absl::string_view session_id,
                                                       bool create) const {
  HECATE_RETURN_IF_ERROR(ValidateName("session id", session_id));
  return UserDir(user, "sessions", create);
}

absl::Status CheckpointDir::WriteSessionFile(absl::string_view user,
                                             absl::string_view session_id,
                                             absl::string_view suffix,
                                             absl::string_view bytes) const {
  HECATE_ASSIGN_OR_RETURN(std::string dir, SessionsDir(user, session_id, /*create=*/true));
  return WriteFileAtomically(dir, absl::StrCat(session_id, suffix), bytes, hook_);
}

absl::StatusOr<std::string> CheckpointDir::ReadSessionFile(absl::string_view user,
                                                           absl::string_view session_id,
                                                           absl::string_view suffix,
                                                           size_t max_bytes) const {
  HECATE_ASSIGN_OR_RETURN(std::string dir, SessionsDir(user, session_id, /*create=*/false));
  return ReadFileLimited(absl::StrCat(dir, "/", session_id, suffix), max_bytes);
}

absl::Status CheckpointDir::WriteSession(absl::string_view user, absl::string_view session_id,
                                         absl::string_view bytes) const {
  return WriteSessionFile(user, session_id, kSessionSuffix, bytes);
}

absl::StatusOr<std::string> CheckpointDir::ReadSession(absl::string_view user,
                                                       absl::string_view session_id,
                                                       size_t max_bytes) const {
  return ReadSessionFile(user, session_id, kSessionSuffix, max_bytes);
}

absl::Status CheckpointDir::WriteSessionMetadata(absl::string_view user,
                                                 absl::string_view session_id,
                                                 absl::string_view text) const {
  return WriteSessionFile(user, session_id, kMetadataSuffix, text);
}

absl::StatusOr<std::string> CheckpointDir::ReadSessionMetadata(
    absl::string_view user, absl::string_view session_id) const {
  return ReadSessionFile(user, session_id, kMetadataSuffix, kMaxMetadataBytes);
}

absl::Status CheckpointDir::RemoveSession(absl::string_view user,
                                          absl::string_view session_id) const {
  HECATE_ASSIGN_OR_RETURN(std::string dir, SessionsDir(user, session_id, /*create=*/false));
  // Metadata first: a crash in between leaves a checkpoint without metadata,
  // which loads (with fresh times), never metadata without a checkpoint.
  for (absl::string_view suffix : {kMetadataSuffix, kSessionSuffix}) {
    const std::string path = absl::StrCat(dir, "/", session_id, suffix);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "cannot remove", path);
    }
  }
  return SyncDirectory(dir);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
CheckpointDir::ListSessionFiles() const {
  HECATE_ASSIGN_OR_RETURN(std::vector<std::string> users, ListDirectory(root_ + "/users"));
  std::vector<std::pair<std::string, std::string>> found;
  for (const std::string& user : users) {
    if (!ValidateName("user name", user).ok()) continue;
    absl::StatusOr<std::vector<std::string>> files =
        ListDirectory(absl::StrCat(root_, "/users/", user, "/sessions"));
    if (absl::IsNotFound(files.status())) continue;
    if (!files.ok()) return files.status();
    for (const std::string& file : *files) {
      absl::string_view id = file;
      if (!absl::ConsumeSuffix(&id, kSessionSuffix) || !ValidateName("session id", id).ok()) {
        continue;
      }
      found.emplace_back(user, std::string(id));
    }
  }
  return found;
}

size_t CheckpointDir::RemoveStaleTempFiles(absl::Duration min_age) const {
  size_t removed = 0;
  const absl::Time cutoff = absl::Now() - min_age;
  absl::StatusOr<std::vector<std::string>> users = ListDirectory(root_ + "/users");
  if (!users.ok()) return 0;
  for (const std::string& user : *users) {
    if (!ValidateName("user name", user).ok()) continue;
    for (absl::string_view kind : {"checkpoints", "sessions"}) {
      const std::string dir = absl::StrCat(root_, "/users/", user, "/", kind);
      absl::StatusOr<std::vector<std::string>> files = ListDirectory(dir);
      if (!files.ok()) continue;
      for (const std::string& file : *files) {
        if (!absl::StartsWith(file, kTempPrefix)) continue;
        const std::string path = absl::StrCat(dir, "/", file);
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) continue;
        if (absl::FromTimeT(st.st_mtime) > cutoff && !WrittenByDeadLocalWriter(file)) continue;
        if (::unlink(path.c_str()) == 0) ++removed;
      }
    }
  }
  return removed;
}

}  // namespace hecate

#include "sessions/lease_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "sessions/checkpoint_file.h"
#include "sessions/session.h"

namespace hecate {
namespace {

constexpr char kMagic[] = "hecate-lease";
constexpr char kVersion[] = "v1";
constexpr size_t kMaxLeaseBytes = 512;

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

absl::StatusOr<LeaseRecord> Parse(absl::string_view text, const std::string& path) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripSuffix(text, "\n"), ' ', absl::SkipEmpty());
  int64_t expiry_ms = 0;
  if (parts.size() != 5 || parts[0] != kMagic || parts[1] != kVersion ||
      !absl::SimpleAtoi(parts[4], &expiry_ms)) {
    return absl::DataLossError(absl::StrCat("lease file ", path, " is malformed"));
  }
  return LeaseRecord{std::string(parts[2]), std::string(parts[3]),
                     absl::FromUnixMillis(expiry_ms)};
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  return ReadFileLimited(path, kMaxLeaseBytes);
}

}  // namespace

LeaseDir::LeaseDir(std::string dir, std::string replica, absl::Duration duration)
    : dir_(std::move(dir)), replica_(std::move(replica)), duration_(duration) {}

absl::StatusOr<LeaseDir> LeaseDir::Open(std::string dir, std::string replica,
                                        absl::Duration duration) {
  HECATE_RETURN_IF_ERROR(ValidateName("replica id", replica));
  if (duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the lease duration must be positive");
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create", dir);
  LeaseDir leases(std::move(dir), std::move(replica), duration);
  HECATE_ASSIGN_OR_RETURN(leases.nonce_, NewSessionId());  // 128 random bits
  return leases;
}

std::string LeaseDir::PathOf(absl::string_view name, absl::string_view suffix) const {
  return absl::StrCat(dir_, "/", name, suffix);
}

std::string LeaseDir::Encode(absl::Time expiry) const {
  return absl::StrCat(kMagic, " ", kVersion, " ", replica_, " ", nonce_, " ",
                      absl::ToUnixMillis(expiry), "\n");
}

absl::StatusOr<std::string> LeaseDir::WriteTemp(absl::string_view content) const {
  HECATE_ASSIGN_OR_RETURN(std::string unique, NewSessionId());
  const std::string path = absl::StrCat(dir_, "/.tmp-", unique);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", path);
  const bool written = write(fd, content.data(), content.size()) ==
                       static_cast<ssize_t>(content.size());
  const bool synced = written && fsync(fd) == 0;
  close(fd);
  if (!synced) {
    unlink(path.c_str());
    return Errno("cannot write", path);
  }
  return path;
}

absl::StatusOr<LeaseRecord> LeaseDir::Read(absl::string_view name) const {
  const std::string path = PathOf(name, ".lease");
  HECATE_ASSIGN_OR_RETURN(std::string text, ReadAll(path));
  return Parse(text, path);
}

absl::Status LeaseDir::Acquire(absl::string_view name, absl::Time now) {
  HECATE_RETURN_IF_ERROR(ValidateName("lease name", name));
  const std::string path = PathOf(name, ".lease");
  HECATE_ASSIGN_OR_RETURN(std::string temp, WriteTemp(Encode(now + duration_)));
  absl::Status result = absl::UnavailableError("lease contended");
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (link(temp.c_str(), path.c_str()) == 0) {
      result = absl::OkStatus();
      break;
    }
    if (errno != EEXIST) {
      result = Errno("cannot link lease", path);
      break;
    }
    absl::StatusOr<std::string> text = ReadAll(path);
    if (absl::IsNotFound(text.status())) continue;  // released meanwhile: link again
    absl::StatusOr<LeaseRecord> held = text.ok() ? Parse(*text, path) : text.status();
    if (held.ok() && held->replica == replica_) {
      // Ours, or our previous incarnation's: take it over.
      result = rename(temp.c_str(), path.c_str()) == 0 ? absl::OkStatus()
                                                       : Errno("cannot renew lease", path);
      temp.clear();
      break;
    }
    if (held.ok() && held->expiry > now) {
      result = absl::UnavailableError(absl::StrCat(
          "session ", name, " is held by replica ", held->replica, " (lease until ",
          absl::FormatTime(held->expiry), "); retry"));
      break;
    }
    // Expired (or unreadable, i.e. torn by a crash): steal it.
    HECATE_ASSIGN_OR_RETURN(std::string unique, NewSessionId());
    const std::string stolen = absl::StrCat(dir_, "/.tmp-stolen-", unique);
    if (rename(path.c_str(), stolen.c_str()) != 0) continue;  // someone else moved it
    absl::StatusOr<std::string> taken = ReadAll(stolen);
    if (taken.ok() && text.ok() && *taken != *text) {
      // A fresh lease replaced the expired one between our read and rename:
      // give it back (unless yet another one exists) and yield.
      if (link(stolen.c_str(), path.c_str()) != 0) {
        // EEXIST: a newer lease is there already; nothing to give back.
      }
      unlink(stolen.c_str());
      result = absl::UnavailableError(absl::StrCat("session ", name,
                                                   " was just leased by another replica; retry"));
      break;
    }
    unlink(stolen.c_str());
  }
  if (!temp.empty()) unlink(temp.c_str());
  return result;
}

absl::Status LeaseDir::Renew(absl::string_view name, absl::Time now) {
  HECATE_RETURN_IF_ERROR(ValidateName("lease name", name));
  const std::string path = PathOf(name, ".lease");
  absl::StatusOr<LeaseRecord> held = Read(name);
  if (!held.ok() || held->replica != replica_ || held->nonce != nonce_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease on ", name, " lost",
        held.ok() ? absl::StrCat(" to replica ", held->replica) : absl::StrCat(": ", held.status().message())));
  }
  HECATE_ASSIGN_OR_RETURN(std::string temp, WriteTemp(Encode(now + duration_)));
  if (rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status error = Errno("cannot renew lease", path);
    unlink(temp.c_str());
    return error;
  }
  return absl::OkStatus();
}

absl::Status LeaseDir::Release(absl::string_view name) {
  HECATE_RETURN_IF_ERROR(ValidateName("lease name", name));
  absl::StatusOr<LeaseRecord> held = Read(name);
  if (!held.ok() || held->replica != replica_ || held->nonce != nonce_) return absl::OkStatus();
  const std::string path = PathOf(name, ".lease");
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove lease", path);
  return absl::OkStatus();
}

void LeaseDir::RequestHandover(absl::string_view name) const {
  if (!ValidateName("lease name", name).ok()) return;
  const int fd = open(PathOf(name, ".want").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}

bool LeaseDir::HandoverRequested(absl::string_view name) const {
  struct stat st;
  return stat(PathOf(name, ".want").c_str(), &st) == 0;
}

void LeaseDir::ClearHandover(absl::string_view name) const {
  unlink(PathOf(name, ".want").c_str());
}

}  // namespace hecate

#include "sessions/named_checkpoints.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sessions/byte_io.h"
#include "sessions/checkpoint_format.h"
#include "sessions/crc32c.h"

namespace hecate {
namespace {

namespace fmt = checkpoint_format;

// Headers longer than this are not read for a listing (version 1 headers
// are about 150 bytes).
constexpr uint32_t kMaxListedHeaderLength = 64 << 10;

absl::Status NoSuchCheckpoint(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no checkpoint named '", name, "'"));
}

absl::Status ErrnoError(int err, absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

// pread until `n` bytes or end of file.
std::string ReadPrefix(int fd, size_t offset, size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out.data() + done, n - done, offset + done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  out.resize(done);
  return out;
}

// The pulse id of the checkpoint file `path`, from its header after checking
// the header CRC; nullopt when it is not a readable checkpoint header. Every
// format version starts its header with the fingerprint and the pulse id
// (checkpoint_format.h).
std::optional<uint64_t> HeaderPulseId(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::optional<uint64_t> pulse_id;
  const std::string preamble = ReadPrefix(fd, 0, fmt::kPreambleSize);
  ByteReader r(preamble);
  absl::string_view magic;
  uint32_t version = 0, header_length = 0;
  if (r.ReadBytes(fmt::kMagic.size(), &magic) && magic == fmt::kMagic && r.ReadU32(&version) &&
      r.ReadU32(&header_length) && header_length >= fmt::kFingerprintSize + 8 &&
      header_length <= kMaxListedHeaderLength) {
    const std::string covered =
        ReadPrefix(fd, 0, fmt::kPreambleSize + header_length + fmt::kCrcSize);
    if (covered.size() == fmt::kPreambleSize + header_length + fmt::kCrcSize) {
      ByteReader h(absl::string_view(covered).substr(fmt::kPreambleSize + fmt::kFingerprintSize));
      ByteReader c(absl::string_view(covered).substr(fmt::kPreambleSize + header_length));
      uint64_t pulse = 0;
      uint32_t stored_crc = 0;
      const uint32_t crc =
          crc32c::Value(absl::string_view(covered).substr(0, fmt::kPreambleSize + header_length));
      if (h.ReadU64(&pulse) && c.ReadU32(&stored_crc) && crc32c::Unmask(stored_crc) == crc) {
        pulse_id = pulse;
      }
    }
  }
  ::close(fd);
  return pulse_id;
}

std::string Mib(uint64_t bytes) {
  return absl::StrCat(absl::SixDigits(static_cast<double>(bytes) / (1 << 20)), " MiB");
}

}  // namespace

NamedCheckpointStore::NamedCheckpointStore(CheckpointDir dir, NamedCheckpointLimits limits)
    : dir_(std::move(dir)), limits_(std::move(limits)) {}

absl::StatusOr<std::string> NamedCheckpointStore::UserFolder(absl::string_view user) const {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", user));
  return absl::StrCat(dir_.root(), "/users/", user, "/checkpoints");
}

absl::StatusOr<std::vector<NamedCheckpointInfo>> NamedCheckpointStore::List(
    absl::string_view user) const {
  HECATE_ASSIGN_OR_RETURN(std::string folder, UserFolder(user));
  HECATE_ASSIGN_OR_RETURN(std::vector<std::string> names, dir_.ListNamed(user));
  std::sort(names.begin(), names.end());
  std::vector<NamedCheckpointInfo> infos;
  for (std::string& name : names) {
    const std::string path = absl::StrCat(folder, "/", name);
    struct stat st;
    // Gone since the listing (deleted concurrently), or not a plain file.
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    NamedCheckpointInfo info;
    info.size_bytes = static_cast<uint64_t>(st.st_size);
    info.created = absl::TimeFromTimespec(st.st_mtim);
    info.pulse_id = HeaderPulseId(path);
    info.name = std::move(name);
    infos.push_back(std::move(info));
  }
  return infos;
}

absl::StatusOr<uint64_t> NamedCheckpointStore::StoredBytes(
    absl::string_view user, const std::function<bool(const std::string&)>& skip) const {
  HECATE_ASSIGN_OR_RETURN(std::string folder, UserFolder(user));
  HECATE_ASSIGN_OR_RETURN(std::vector<std::string> names, dir_.ListNamed(user));
  uint64_t total = 0;
  for (const std::string& name : names) {
    if (skip && skip(name)) continue;
    struct stat st;
    if (::lstat(absl::StrCat(folder, "/", name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_size);
    }
  }
  return total;
}

absl::StatusOr<uint64_t> NamedCheckpointStore::UsedBytes(absl::string_view user) const {
  return StoredBytes(user, nullptr);
}

absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>>
NamedCheckpointStore::UsageByUser() const {
  std::vector<std::pair<std::string, uint64_t>> usage;
  DIR* d = ::opendir(absl::StrCat(dir_.root(), "/users").c_str());
  if (d == nullptr) return usage;
  std::vector<std::string> users;
  while (struct dirent* e = ::readdir(d)) {
    if (ValidateName("user name", e->d_name).ok()) users.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const std::string& user : users) {
    HECATE_ASSIGN_OR_RETURN(uint64_t bytes, UsedBytes(user));
    if (bytes > 0) usage.emplace_back(user, bytes);
  }
  return usage;
}

absl::Status NamedCheckpointStore::Reserve(absl::string_view user, absl::string_view name,
                                           uint64_t size) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(user);
  const absl::flat_hash_map<std::string, InFlight>* writing =
      it == in_flight_.end() ? nullptr : &it->second;
  // Files being replaced count as what replaces them.
  HECATE_ASSIGN_OR_RETURN(uint64_t used, StoredBytes(user, [&](const std::string& stored) {
                            return stored == name ||
                                   (writing != nullptr && writing->contains(stored));
                          }));
  if (writing != nullptr) {
    for (const auto& [unused, w] : *writing) used += w.bytes;
  }
  if (used + size > limits_.quota_bytes_per_user) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint storage quota per user (", limits_.quota_bytes_per_user, " bytes, ",
        Mib(limits_.quota_bytes_per_user), ") exceeded: user ", user, " uses ", used,
        " bytes of named checkpoints (besides any named '", name,
        "' this one replaces) and this checkpoint needs ", size,
        " more; delete some (DeleteCheckpoint, hecatectl delete-checkpoint)"));
  }
  const FreeSpaceFn& probe = limits_.free_space ? limits_.free_space : FilesystemFreeBytes;
  absl::StatusOr<uint64_t> free_bytes = probe(dir_.root());
  if (free_bytes.ok()) {
    const uint64_t usable = *free_bytes > in_flight_total_ ? *free_bytes - in_flight_total_ : 0;
    if (usable < limits_.reserved_bytes || usable - limits_.reserved_bytes < size) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "not enough disk space for a named checkpoint: ", usable, " bytes free, ",
          limits_.reserved_bytes,
          " of them reserved for offloaded and drained sessions (--reserved_state_bytes), and "
          "this checkpoint needs ",
          size));
    }
  }  // else: the write itself reports a full disk (RESOURCE_EXHAUSTED)
  InFlight& w = in_flight_[user][name];
  w.bytes += size;
  ++w.writers;
  in_flight_total_ += size;
  return absl::OkStatus();
}

void NamedCheckpointStore::Finish(absl::string_view user, absl::string_view name,
                                  uint64_t size) {
  absl::MutexLock lock(&mu_);
  in_flight_total_ -= size;
  auto it = in_flight_.find(user);
  if (it == in_flight_.end()) return;
  auto w = it->second.find(name);
  if (w == it->second.end()) return;
  w->second.bytes -= size;
  if (--w->second.writers == 0) it->second.erase(w);
  if (it->second.empty()) in_flight_.erase(it);
}

absl::Status NamedCheckpointStore::Write(absl::string_view user, absl::string_view name,
                                         absl::string_view bytes) {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", user));
  HECATE_RETURN_IF_ERROR(ValidateName("checkpoint name", name));
  HECATE_RETURN_IF_ERROR(Reserve(user, name, bytes.size()));
  absl::Status written = dir_.WriteNamed(user, name, bytes);
  Finish(user, name, bytes.size());
  return written;
}

absl::StatusOr<std::string> NamedCheckpointStore::Read(absl::string_view user,
                                                       absl::string_view name,
                                                       size_t max_bytes) const {
  return dir_.ReadNamed(user, name, max_bytes);
}

absl::Status NamedCheckpointStore::Delete(absl::string_view user, absl::string_view name) {
  HECATE_RETURN_IF_ERROR(ValidateName("checkpoint name", name));
  HECATE_ASSIGN_OR_RETURN(std::string folder, UserFolder(user));
  const std::string path = absl::StrCat(folder, "/", name);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NoSuchCheckpoint(name);
    return ErrnoError(errno, "cannot remove", path);
  }
  // The removal is durable once the directory entry is gone on disk.
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open directory", folder);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError(err, "cannot fsync directory", folder);
  return absl::OkStatus();
}

}  // namespace hecate

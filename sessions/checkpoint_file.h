// Checkpoint files in the server's state directory, written atomically.
//
// Layout under the state directory (every component validated by
// ValidateName, so nothing is ever written outside it):
//   users/<user>/checkpoints/<name>            checkpoints a user stored by name
//   users/<user>/sessions/<session id>.ckpt    sessions offloaded to disk or drained
// Temporary files start with ".tmp-", which no valid name can, so they never
// shadow or replace a checkpoint and are never listed.
//
// Durability: WriteFileAtomically writes a temporary file in the target's
// directory, fsyncs it, renames it over the target and fsyncs the directory.
// A crash at any instant leaves the old file or the new one, never a torn
// one (and at worst a stray temporary file, which RemoveStaleTempFiles
// deletes). Temporary files are named .tmp-<target>-<token>-<pid>-<n>: the
// writer's TempWriterToken() and pid say who wrote it, so a restart can
// tell a dead writer's file on this host from one another process (on this
// host or another sharing the directory) may still be writing.
//
//   absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open("/var/lib/hecate");
//   absl::Status s = dir->WriteNamed("alice", "before-edit", bytes);
#ifndef HECATE_SESSIONS_CHECKPOINT_FILE_H_
#define HECATE_SESSIONS_CHECKPOINT_FILE_H_

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hecate {

inline constexpr size_t kMaxNameLength = 128;

// OK when `name` is 1..128 characters of [A-Za-z0-9._-] and does not start
// with '.': no separators, no "..", no hidden or temporary files. Otherwise
// INVALID_ARGUMENT naming `what` ("checkpoint name", "user name").
absl::Status ValidateName(absl::string_view what, absl::string_view name);

// Identifies this process's pid namespace on this boot (16 hex digits from
// the kernel's boot id and the namespace; "unknown" when /proc lacks them):
// writers with the same token and pid are the same process.
const std::string& TempWriterToken();

// The steps of an atomic write, for tests that crash a writer in between.
enum class WriteStep { kTempWritten, kTempSynced, kRenamed, kDirSynced };
using WriteStepHook = std::function<void(WriteStep)>;

// Replaces `dir`/`file_name` with `bytes` atomically and durably (see above).
// Errors: RESOURCE_EXHAUSTED when the disk is full, INTERNAL otherwise; the
// target is then unchanged and the temporary file removed.
absl::Status WriteFileAtomically(const std::string& dir, absl::string_view file_name,
                                 absl::string_view bytes, const WriteStepHook& hook = nullptr);

// The bytes of the regular file `path` (symlinks are refused). NOT_FOUND
// when missing; DATA_LOSS when larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileLimited(const std::string& path, size_t max_bytes);

class CheckpointDir {
 public:
  // Creates `state_dir` (mode 0700) when missing.
  static absl::StatusOr<CheckpointDir> Open(const std::string& state_dir);

  const std::string& root() const { return root_; }

  // Named checkpoints. Names and users are validated (INVALID_ARGUMENT);
  // reading a missing name is NOT_FOUND "no checkpoint named ...".
  absl::Status WriteNamed(absl::string_view user, absl::string_view name,
                          absl::string_view bytes) const;
  absl::StatusOr<std::string> ReadNamed(absl::string_view user, absl::string_view name,
                                        size_t max_bytes) const;
  absl::StatusOr<std::vector<std::string>> ListNamed(absl::string_view user) const;

  // Session files, keyed by owner and session id (validated like names).
  absl::Status WriteSession(absl::string_view user, absl::string_view session_id,
                            absl::string_view bytes) const;
  absl::StatusOr<std::string> ReadSession(absl::string_view user, absl::string_view session_id,
                                          size_t max_bytes) const;
  // A session's metadata (times and counters, see session_metadata.h) in a
  // small file beside its checkpoint, written after it. NOT_FOUND when absent
  // (state directories from before it existed).
  absl::Status WriteSessionMetadata(absl::string_view user, absl::string_view session_id,
                                    absl::string_view text) const;
  absl::StatusOr<std::string> ReadSessionMetadata(absl::string_view user,
                                                  absl::string_view session_id) const;
  // Removes the session file and its metadata; OK also when they do not exist.
  absl::Status RemoveSession(absl::string_view user, absl::string_view session_id) const;
  // Every (user, session id) that has a session file, in no particular order.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListSessionFiles() const;

  // Deletes temporary files left by crashed writers: at once those whose
  // writer had this process's TempWriterToken() and a pid that no longer
  // runs (not this process's own); any other once older than `min_age`
  // (another host's, another pid namespace's, or a name from before the
  // token: its writer may still be running). Returns how many.
  size_t RemoveStaleTempFiles(absl::Duration min_age) const;

  // Called between the steps of every write (tests inject crashes here).
  void set_write_hook(WriteStepHook hook) { hook_ = std::move(hook); }

 private:
  explicit CheckpointDir(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<std::string> UserDir(absl::string_view user, absl::string_view kind,
                                      bool create) const;
  // users/<user>/sessions, after validating the session id; the session's
  // files are <id><suffix> there (.ckpt, .meta).
  absl::StatusOr<std::string> SessionsDir(absl::string_view user, absl::string_view session_id,
                                          bool create) const;
  absl::Status WriteSessionFile(absl::string_view user, absl::string_view session_id,
                                absl::string_view suffix, absl::string_view bytes) const;
  absl::StatusOr<std::string> ReadSessionFile(absl::string_view user,
                                              absl::string_view session_id,
                                              absl::string_view suffix, size_t max_bytes) const;

  std::string root_;
  WriteStepHook hook_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_CHECKPOINT_FILE_H_

// Checkpoint signatures: the key replicas share, and the seal that makes a
// checkpoint tamper-evident (format: sessions/checkpoint_format.h, version 2).
//
// A CheckpointKey holds two keys derived from the operator's key material
// (>= 32 bytes, from --checkpoint_key_file): one that MACs checkpoints
// (HMAC-SHA256) and a public 8-byte id that names the key in errors, so a
// checkpoint signed by another key is told apart from a tampered one. The
// material itself is not kept.
//
// CheckSeal runs before any other byte of a checkpoint is interpreted (only
// the magic and the version field are looked at, to tell a signed file from
// an unsigned one). With a key it proves the bytes were written by a holder
// of the key and not changed since; without one it proves nothing against a
// deliberate forger (the CRCs only catch accidents) and ignores the seal.
//
//   absl::StatusOr<CheckpointKey> key = CheckpointKey::FromFile(path);
//   CheckpointSigning signing{std::make_shared<CheckpointKey>(*std::move(key))};
//   SealCheckpoint(*signing.key, &bytes);                 // appends the seal
//   absl::StatusOr<UnsealedCheckpoint> body = CheckSeal(bytes, signing);
//
// Errors of CheckSeal:
//   FAILED_PRECONDITION  an unsigned checkpoint where signatures are required,
//                        or one signed with another key (both ids named)
//   DATA_LOSS            a signature that does not match the bytes (changed
//                        after signing: corrupt or forged), a signed
//                        checkpoint whose seal is missing or truncated
#ifndef HECATE_SESSIONS_CHECKPOINT_KEY_H_
#define HECATE_SESSIONS_CHECKPOINT_KEY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/sha256.h"

namespace hecate {

class CheckpointKey {
 public:
  static constexpr size_t kMinMaterialBytes = 32;

  // INVALID_ARGUMENT when `material` is shorter than kMinMaterialBytes.
  static absl::StatusOr<CheckpointKey> FromMaterial(absl::string_view material);

  // Reads a key file. When the file, without surrounding whitespace, is only
  // hex digits it is hex (an even number of them, >= 64); otherwise its raw
  // bytes are the material (>= 32). The file must be a regular file that
  // others cannot read or write (mode & 0006 == 0). Errors name the path:
  // NOT_FOUND, PERMISSION_DENIED (unreadable, or readable/writable by
  // others), INVALID_ARGUMENT (too short, malformed hex, not a file).
  static absl::StatusOr<CheckpointKey> FromFile(const std::string& path);

  // The key's public id (kKeyIdSize bytes) and its lowercase hex.
  const std::string& id() const { return id_; }
  std::string id_hex() const;

  // The MAC of a checkpoint's bytes up to its seal's MAC field.
  Sha256Digest Mac(absl::string_view bytes) const;

 private:
  CheckpointKey(std::string mac_key, std::string id)
      : mac_key_(std::move(mac_key)), id_(std::move(id)) {}

  std::string mac_key_;
  std::string id_;
};

// What a daemon does with signatures.
struct CheckpointSigning {
  // Null: checkpoints are written unsigned (version 1), and a signed one is
  // read without checking its seal (integrity by CRC only). Otherwise every
  // checkpoint is written signed, and read only with a valid seal by this key.
  std::shared_ptr<const CheckpointKey> key;
  // With a key: also read unsigned (version 1) checkpoints, e.g. files written
  // before the key was configured. Signed ones must still verify.
  bool allow_unsigned = false;

  bool requires_signature() const { return key != nullptr && !allow_unsigned; }
};

// Appends the seal (magic, key id, MAC of everything before the MAC) to the
// bytes of a complete version-2 checkpoint.
void SealCheckpoint(const CheckpointKey& key, std::string* bytes);

// The checkpoint without its seal, to parse, after the signature policy.
struct UnsealedCheckpoint {
  absl::string_view body;  // preamble .. footer
  bool sealed = false;     // the file carried a seal (version 2)
  bool verified = false;   // ... and it was checked against the key
};

// Checks a checkpoint's seal against `signing` (see the header comment),
// before anything else of it is read. Files too short to hold a preamble, or
// without the checkpoint magic, pass through unchanged when no signature is
// required, for the parser to report.
absl::StatusOr<UnsealedCheckpoint> CheckSeal(absl::string_view bytes,
                                             const CheckpointSigning& signing);

}  // namespace hecate

#endif  // HECATE_SESSIONS_CHECKPOINT_KEY_H_

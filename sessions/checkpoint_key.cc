#include "sessions/checkpoint_key.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sessions/byte_io.h"
#include "sessions/checkpoint_format.h"

namespace hecate {
namespace {

namespace fmt = checkpoint_format;

// Labels of the two derived keys (domain separation: neither the MAC key nor
// the public id can be used in place of the other, or of the material).
constexpr absl::string_view kMacKeyLabel = "hecate checkpoint mac";
constexpr absl::string_view kKeyIdLabel = "hecate checkpoint key id";
// A key file is small; anything larger is a mistake (a wrong path).
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

bool AllHex(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

}  // namespace

absl::StatusOr<CheckpointKey> CheckpointKey::FromMaterial(absl::string_view material) {
  if (material.size() < kMinMaterialBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint key has ", material.size(), " bytes of key material; at least ",
                     kMinMaterialBytes, " are required (e.g. openssl rand -hex 32)"));
  }
  const Sha256Digest mac_key = HmacSha256(material, kMacKeyLabel);
  const Sha256Digest id = HmacSha256(material, kKeyIdLabel);
  return CheckpointKey(std::string(DigestBytes(mac_key)),
                       std::string(DigestBytes(id).substr(0, fmt::kKeyIdSize)));
}

absl::StatusOr<CheckpointKey> CheckpointKey::FromFile(const std::string& path) {
  const std::string what = absl::StrCat("checkpoint key file ", path);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {  // follows links: Kubernetes mounts secrets as links
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, " does not exist"));
    return absl::PermissionDeniedError(absl::StrCat(what, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a regular file"));
  }
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " is readable or writable by every user (mode ",
        absl::StrFormat("%04o", st.st_mode & 07777), "); make it private, e.g. chmod 600 ",
        path));
  }
  if (static_cast<size_t>(st.st_size) > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", st.st_size, " bytes; a key file has at most ",
                     kMaxKeyFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(what, " cannot be read"));
  const std::string contents((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  const absl::string_view trimmed = absl::StripAsciiWhitespace(contents);
  std::string material;
  if (AllHex(trimmed)) {
    if (trimmed.size() % 2 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " holds ", trimmed.size(), " hex digits, an odd number"));
    }
    material = absl::HexStringToBytes(trimmed);
  } else {
    material = contents;
  }
  absl::StatusOr<CheckpointKey> key = FromMaterial(material);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " holds ", material.size(), AllHex(trimmed) ? " bytes (hex-decoded)" : " raw bytes",
        " of key material; at least ", kMinMaterialBytes,
        " are required (e.g. openssl rand -hex 32 > ", path, ")"));
  }
  return key;
}

std::string CheckpointKey::id_hex() const { return Hex(id_); }

Sha256Digest CheckpointKey::Mac(absl::string_view bytes) const {
  return HmacSha256(mac_key_, bytes);
}

void SealCheckpoint(const CheckpointKey& key, std::string* bytes) {
  bytes->append(fmt::kSealMagic.data(), fmt::kSealMagic.size());
  bytes->append(key.id());
  const Sha256Digest mac = key.Mac(*bytes);
  bytes->append(DigestBytes(mac).data(), fmt::kMacSize);
}

absl::StatusOr<UnsealedCheckpoint> CheckSeal(absl::string_view bytes,
                                             const CheckpointSigning& signing) {
  UnsealedCheckpoint out;
  out.body = bytes;
  // Only the magic and the version are looked at before the signature.
  ByteReader r(bytes);
  absl::string_view magic;
  uint32_t version = 0;
  if (!r.ReadBytes(fmt::kMagic.size(), &magic) || magic != fmt::kMagic || !r.ReadU32(&version)) {
    return out;  // not a checkpoint at all: the parser says how
  }
  const CheckpointKey* key = signing.key.get();
  if (!fmt::IsSignedVersion(version)) {
    if (version >= 1 && version <= fmt::kFormatVersion && signing.requires_signature()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint is not signed (format version ", version,
          "), and this server accepts only "
          "checkpoints signed with its key ",
          key->id_hex(),
          " (--checkpoint_key_file; --allow_unsigned_checkpoints would accept unsigned ones)"));
    }
    return out;  // unsigned, or a version the parser refuses
  }
  if (bytes.size() < fmt::kPreambleSize + fmt::kSealSize ||
      bytes.substr(bytes.size() - fmt::kSealSize, fmt::kSealMagic.size()) != fmt::kSealMagic) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint is signed (format version ", version, "), but its ", fmt::kSealSize,
        "-byte seal is missing or truncated"));
  }
  const absl::string_view seal = bytes.substr(bytes.size() - fmt::kSealSize);
  const absl::string_view key_id = seal.substr(fmt::kSealMagic.size(), fmt::kKeyIdSize);
  out.body = bytes.substr(0, bytes.size() - fmt::kSealSize);
  out.sealed = true;
  if (key == nullptr) return out;  // nothing to check it with
  if (key_id != key->id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint is signed with key ", Hex(key_id), ", not with this server's key ",
        key->id_hex(), " (--checkpoint_key_file)"));
  }
  Sha256Digest stored;
  const absl::string_view stored_mac = seal.substr(fmt::kSealSize - fmt::kMacSize);
  std::memcpy(stored.data(), stored_mac.data(), stored.size());
  if (!DigestsEqual(stored, key->Mac(bytes.substr(0, bytes.size() - fmt::kMacSize)))) {
    return absl::DataLossError(
        "checkpoint signature does not match its bytes: they were changed after it was "
        "signed (corrupt or forged)");
  }
  out.verified = true;
  return out;
}

}  // namespace hecate

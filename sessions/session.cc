#include "sessions/session.h"

#include <openssl/rand.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hecate {

absl::string_view ResidencyName(Residency residency) {
  switch (residency) {
    case Residency::kDevice:
      return "device";
    case Residency::kHost:
      return "host";
    case Residency::kDisk:
      return "disk";
  }
  return "unknown";
}

absl::StatusOr<std::string> NewSessionId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed to produce a session id");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::Status ValidateSessionId(absl::string_view id) {
  bool ok = id.size() == 32;
  for (char c : id) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session id must be 32 lowercase hex characters, got ", id.size(), " characters"));
  }
  return absl::OkStatus();
}

Session::Session(std::string id, std::string owner, std::string model_fingerprint,
                 size_t state_bytes, uint64_t pulse_id, absl::Time created)
    : id_(std::move(id)),
      owner_(std::move(owner)),
      fingerprint_(std::move(model_fingerprint)),
      state_bytes_(state_bytes),
      created_(created),
      pulse_id_(pulse_id),
      last_used_(created),
      transcript_(pulse_id) {}

void Session::set_transcript(Transcript transcript) {
  absl::MutexLock lock(&mu_);
  transcript_ = std::move(transcript);
}

void Session::AppendTranscript(absl::Span<const uint8_t> bytes, size_t max_journal_bytes) {
  absl::MutexLock lock(&mu_);
  transcript_.Append(bytes, max_journal_bytes);
}

Transcript Session::transcript() const {
  absl::MutexLock lock(&mu_);
  return transcript_;
}

TranscriptChain Session::transcript_chain() const {
  absl::MutexLock lock(&mu_);
  return transcript_.chain();
}

uint64_t Session::transcript_start_pulse() const {
  absl::MutexLock lock(&mu_);
  return transcript_.journal_start();
}

absl::StatusOr<TranscriptBytes> Session::ReadTranscript(uint64_t from_pulse,
                                                        size_t max_bytes) const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<absl::string_view> bytes = transcript_.Read(from_pulse, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return TranscriptBytes{std::string(bytes->data(), bytes->size()), from_pulse,
                         transcript_.pulse_id(), transcript_.journal_start(),
                         transcript_.digest_hex()};
}

SessionInfo Session::Info() const {
  absl::MutexLock lock(&mu_);
  SessionInfo info;
  info.id = id_;
  info.owner = owner_;
  info.model_fingerprint = fingerprint_;
  info.pulse_id = pulse_id_;
  info.residency = residency_;
  info.state_bytes = state_bytes_;
  info.created = created_;
  info.last_used = last_used_;
  info.tokens_in = tokens_in_;
  info.tokens_out = tokens_out_;
  info.transcript_digest = transcript_.digest_hex();
  info.transcript_start_pulse = transcript_.journal_start();
  info.keep_on_expiry = keep_on_expiry_;
  info.pinned = pinned_;
  return info;
}

void Session::set_keep_on_expiry(bool keep) {
  absl::MutexLock lock(&mu_);
  keep_on_expiry_ = keep;
}

void Session::set_pinned(bool pinned) {
  absl::MutexLock lock(&mu_);
  pinned_ = pinned;
}

bool Session::pinned() const {
  absl::MutexLock lock(&mu_);
  return pinned_;
}

bool Session::keep_on_expiry() const {
  absl::MutexLock lock(&mu_);
  return keep_on_expiry_;
}

Residency Session::residency() const {
  absl::MutexLock lock(&mu_);
  return residency_;
}

uint64_t Session::pulse_id() const {
  absl::MutexLock lock(&mu_);
  return pulse_id_;
}

uint64_t Session::last_use_sequence() const {
  absl::MutexLock lock(&mu_);
  return last_use_sequence_;
}

absl::Status Session::BeginWrite(bool wait) {
  absl::MutexLock lock(&mu_);
  if (wait) {
    mu_.Await(absl::Condition(this, &Session::FreeOrClosed));
  } else {
    mu_.Await(absl::Condition(this, &Session::NotHeldByTheDaemon));
  }
  if (closed_) return absl::NotFoundError(absl::StrCat("session ", id_, " not found"));
  if (busy_) {
    return absl::AbortedError(
        absl::StrCat("session ", id_, " is busy: another request is writing to it"));
  }
  busy_ = true;
  daemon_claim_ = false;
  return absl::OkStatus();
}

bool Session::FreeOrClosed() const { return !busy_ || closed_; }

bool Session::NotHeldByTheDaemon() const { return !busy_ || closed_ || !daemon_claim_; }

bool Session::TryBeginWrite(Claimant claimant) {
  absl::MutexLock lock(&mu_);
  if (busy_ || closed_) return false;
  busy_ = true;
  daemon_claim_ = claimant == Claimant::kDaemon;
  return true;
}

void Session::EndWrite() {
  absl::MutexLock lock(&mu_);
  busy_ = false;
  daemon_claim_ = false;
}

bool Session::busy() const {
  absl::MutexLock lock(&mu_);
  return busy_;
}

void Session::SetOnDevice(std::unique_ptr<BackendState> state) {
  device_ = std::move(state);
  host_.reset();
  absl::MutexLock lock(&mu_);
  residency_ = Residency::kDevice;
}

void Session::SetOnHost(std::unique_ptr<ModelState> state) {
  host_ = std::move(state);
  device_.reset();
  absl::MutexLock lock(&mu_);
  residency_ = Residency::kHost;
}

void Session::SetOnDisk() {
  device_.reset();
  host_.reset();
  absl::MutexLock lock(&mu_);
  residency_ = Residency::kDisk;
}

void Session::set_pulse_id(uint64_t pulse_id) {
  absl::MutexLock lock(&mu_);
  pulse_id_ = pulse_id;
}

void Session::RecordUse(uint64_t tokens_in, uint64_t tokens_out, uint64_t use_sequence,
                        absl::Time now) {
  absl::MutexLock lock(&mu_);
  tokens_in_ += tokens_in;
  tokens_out_ += tokens_out;
  last_use_sequence_ = use_sequence;
  last_used_ = now;
}

void Session::MarkDamaged(std::string reason) {
  absl::MutexLock lock(&mu_);
  damage_ = std::move(reason);
}

void Session::ClearDamage() {
  absl::MutexLock lock(&mu_);
  damage_.clear();
}

std::string Session::damage() const {
  absl::MutexLock lock(&mu_);
  return damage_;
}

void Session::Close() {
  device_.reset();
  host_.reset();
  next_logits_.clear();
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

}  // namespace hecate

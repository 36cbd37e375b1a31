// Transcript: the bytes a session has consumed (its journal, one byte per
// pulse: input chunks and generated tokens alike) and a running SHA-256
// digest of them that does not depend on how they were chunked.
//
// Digest (docs/CHECKPOINT_FORMAT.md, "Transcript digest"). The bytes from the
// transcript's origin pulse o on are cut into blocks of kTranscriptBlockBytes
// (1024); a chain value absorbs each complete block and the reported digest
// covers the chain, the incomplete last block (the tail) and the pulse id:
//
//   C_0     = SHA-256("hecate transcript v1" || u64le(o))
//   C_{k+1} = SHA-256(C_k || block_k)                    (1024 bytes each)
//   digest  = SHA-256(C_k || tail || u64le(pulse id))    (tail < 1024 bytes)
//
// Cost per chunk: O(chunk + 1 KiB), independent of the history. Two
// transcripts with the same origin and the same bytes have the same digest
// whatever the chunking, so a rewind to any pulse, or a twin fed the same
// bytes differently, reports the same digest; one differing byte changes it.
// A fresh session has origin 0: every byte is known. A session restored from
// a checkpoint written before transcripts existed (format versions 1 and 2)
// has origin = its pulse id: the bytes before it are unknown, and its digest
// commits to "o unknown bytes, then these".
//
// Journal: the last max_journal_bytes bytes are kept (Append drops the
// oldest beyond that); journal_start() is the first pulse still held. The
// digest always covers every byte since the origin.
//
// Not thread-safe; Session guards it.
#ifndef HECATE_SESSIONS_TRANSCRIPT_H_
#define HECATE_SESSIONS_TRANSCRIPT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/sha256.h"

namespace hecate {

inline constexpr size_t kTranscriptBlockBytes = 1024;
inline constexpr size_t kDefaultMaxJournalBytes = size_t{64} << 20;

// Where the digest chain stands at one pulse: enough to continue it (a
// snapshot keeps one to rewind to).
struct TranscriptChain {
  uint64_t origin = 0;
  uint64_t pulse_id = 0;
  Sha256Digest chain{};
  std::string tail;  // (pulse_id - origin) % kTranscriptBlockBytes bytes
};

// The chain value C_0 of a transcript starting at `origin`.
Sha256Digest TranscriptChainStart(uint64_t origin);
// The digest the chain reports (see above).
Sha256Digest TranscriptDigest(const TranscriptChain& chain);

class Transcript {
 public:
  // A transcript at pulse `origin` with no bytes (origin 0: a fresh session).
  explicit Transcript(uint64_t origin = 0);

  // From a checkpoint's parts, checked for consistency: the tail's length
  // matches the pulse id, the journal ends at the pulse id and its end
  // agrees with the tail, and a journal held from the origin hashes to the
  // chain value (O(journal), SHA-256). DATA_LOSS naming what disagrees.
  static absl::StatusOr<Transcript> FromParts(TranscriptChain chain, uint64_t journal_start,
                                              absl::string_view journal);

  uint64_t origin() const { return chain_.origin; }
  uint64_t pulse_id() const { return chain_.pulse_id; }
  const TranscriptChain& chain() const { return chain_; }
  // Computed when first asked after a change (a decode step appends one
  // byte per session: hashing each time was most of the engine thread's
  // bookkeeping). So even this const read needs the owner's exclusive lock.
  const Sha256Digest& digest() const;
  std::string digest_hex() const { return DigestHex(digest()); }

  // The journal: bytes of pulses journal_start() .. pulse_id() - 1.
  uint64_t journal_start() const { return chain_.pulse_id - journal_size(); }
  size_t journal_size() const { return buffer_.size() - skip_; }
  absl::string_view journal() const {
    return absl::string_view(buffer_).substr(skip_);
  }

  // Consumes `bytes` (one pulse each), keeping at most `max_journal_bytes`
  // of journal.
  void Append(absl::Span<const uint8_t> bytes, size_t max_journal_bytes);
  void Append(absl::string_view bytes, size_t max_journal_bytes);

  // Up to `max_bytes` journal bytes from pulse `from_pulse` on (fewer at the
  // end of the journal; none when from_pulse is the pulse id). OUT_OF_RANGE
  // naming the journal's range when from_pulse is outside
  // journal_start() .. pulse_id().
  absl::StatusOr<absl::string_view> Read(uint64_t from_pulse, size_t max_bytes) const;

  // The transcript as it was at pulse `to_pulse`, from the chain `at` (an
  // earlier point of this transcript, at <= to_pulse) and this journal's
  // bytes after it. OUT_OF_RANGE when to_pulse is past the pulse id or the
  // journal no longer holds the bytes from at.pulse_id on; INVALID_ARGUMENT
  // for a chain of another origin.
  absl::StatusOr<Transcript> Rewound(const TranscriptChain& at, uint64_t to_pulse) const;

 private:
  void Absorb(absl::string_view bytes);

  TranscriptChain chain_;
  mutable Sha256Digest digest_{};
  mutable bool digest_stale_ = true;
  // The journal is buffer_[skip_..]; dropped bytes are erased in bulk.
  std::string buffer_;
  size_t skip_ = 0;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_TRANSCRIPT_H_

#include "sessions/transcript.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sessions/byte_io.h"

namespace hecate {
namespace {

constexpr absl::string_view kChainLabel = "hecate transcript v1";

std::string U64Le(uint64_t v) {
  std::string out;
  ByteWriter(&out).PutU64(v);
  return out;
}

size_t TailLength(uint64_t origin, uint64_t pulse_id) {
  return static_cast<size_t>((pulse_id - origin) % kTranscriptBlockBytes);
}

}  // namespace

Sha256Digest TranscriptChainStart(uint64_t origin) {
  Sha256 h;
  h.Update(kChainLabel);
  h.Update(U64Le(origin));
  return h.Finish();
}

Sha256Digest TranscriptDigest(const TranscriptChain& chain) {
  Sha256 h;
  h.Update(DigestBytes(chain.chain));
  h.Update(chain.tail);
  h.Update(U64Le(chain.pulse_id));
  return h.Finish();
}

Transcript::Transcript(uint64_t origin) {
  chain_.origin = origin;
  chain_.pulse_id = origin;
  chain_.chain = TranscriptChainStart(origin);
}

const Sha256Digest& Transcript::digest() const {
  if (digest_stale_) {
    digest_ = TranscriptDigest(chain_);
    digest_stale_ = false;
  }
  return digest_;
}

absl::StatusOr<Transcript> Transcript::FromParts(TranscriptChain chain, uint64_t journal_start,
                                                 absl::string_view journal) {
  if (chain.pulse_id < chain.origin) {
    return absl::DataLossError(absl::StrCat("transcript origin ", chain.origin,
                                            " is after its pulse id ", chain.pulse_id));
  }
  if (chain.tail.size() != TailLength(chain.origin, chain.pulse_id)) {
    return absl::DataLossError(absl::StrCat("transcript tail has ", chain.tail.size(),
                                            " bytes, pulse id ", chain.pulse_id, " and origin ",
                                            chain.origin, " need ",
                                            TailLength(chain.origin, chain.pulse_id)));
  }
  if (journal_start < chain.origin || journal_start > chain.pulse_id ||
      journal.size() != chain.pulse_id - journal_start) {
    return absl::DataLossError(absl::StrCat(
        "transcript journal of ", journal.size(), " bytes from pulse ", journal_start,
        " does not end at pulse id ", chain.pulse_id, " (origin ", chain.origin, ")"));
  }
  const size_t overlap = std::min(journal.size(), chain.tail.size());
  if (journal.substr(journal.size() - overlap) !=
      absl::string_view(chain.tail).substr(chain.tail.size() - overlap)) {
    return absl::DataLossError("transcript journal disagrees with its digest's tail");
  }
  if (journal_start == chain.origin) {
    // Every byte since the origin is held: the chain value follows from them.
    Sha256Digest c = TranscriptChainStart(chain.origin);
    for (size_t at = 0; at + kTranscriptBlockBytes <= journal.size() - chain.tail.size();
         at += kTranscriptBlockBytes) {
      Sha256 h;
      h.Update(DigestBytes(c));
      h.Update(journal.substr(at, kTranscriptBlockBytes));
      c = h.Finish();
    }
    if (c != chain.chain) {
      return absl::DataLossError(absl::StrCat(
          "transcript journal holds every byte since its origin ", chain.origin,
          " but does not hash to its chain value"));
    }
  }
  Transcript t(chain.origin);
  t.chain_ = std::move(chain);
  t.digest_stale_ = true;
  t.buffer_.assign(journal.data(), journal.size());
  return t;
}

void Transcript::Absorb(absl::string_view bytes) {
  while (!bytes.empty()) {
    const size_t take = std::min(bytes.size(), kTranscriptBlockBytes - chain_.tail.size());
    chain_.tail.append(bytes.data(), take);
    bytes.remove_prefix(take);
    chain_.pulse_id += take;
    if (chain_.tail.size() == kTranscriptBlockBytes) {
      Sha256 h;
      h.Update(DigestBytes(chain_.chain));
      h.Update(chain_.tail);
      chain_.chain = h.Finish();
      chain_.tail.clear();
    }
  }
  digest_stale_ = true;
}

void Transcript::Append(absl::string_view bytes, size_t max_journal_bytes) {
  Absorb(bytes);
  if (bytes.size() >= max_journal_bytes) {
    buffer_.assign(bytes.data() + bytes.size() - max_journal_bytes, max_journal_bytes);
    skip_ = 0;
    return;
  }
  buffer_.append(bytes.data(), bytes.size());
  if (journal_size() > max_journal_bytes) skip_ = buffer_.size() - max_journal_bytes;
  // Dropped bytes are erased once they are half the buffer: amortised O(1).
  if (skip_ > 0 && skip_ >= buffer_.size() / 2) {
    buffer_.erase(0, skip_);
    skip_ = 0;
  }
}

void Transcript::Append(absl::Span<const uint8_t> bytes, size_t max_journal_bytes) {
  Append(absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
         max_journal_bytes);
}

absl::StatusOr<absl::string_view> Transcript::Read(uint64_t from_pulse, size_t max_bytes) const {
  if (from_pulse < journal_start() || from_pulse > pulse_id()) {
    return absl::OutOfRangeError(absl::StrCat(
        "from_pulse ", from_pulse, " is outside the transcript held: pulses ", journal_start(),
        "..", pulse_id(), " (", journal_size(), " bytes; the server keeps at most "
        "--max_journal_bytes per session, older bytes are dropped)"));
  }
  return journal().substr(from_pulse - journal_start(), max_bytes);
}

absl::StatusOr<Transcript> Transcript::Rewound(const TranscriptChain& at,
                                               uint64_t to_pulse) const {
  if (at.origin != origin() || at.pulse_id < origin()) {
    return absl::InvalidArgumentError("rewind from a chain of another transcript");
  }
  if (to_pulse < at.pulse_id || to_pulse > pulse_id()) {
    return absl::OutOfRangeError(absl::StrCat("pulse ", to_pulse, " is outside ", at.pulse_id,
                                              "..", pulse_id()));
  }
  if (at.pulse_id < journal_start()) {
    return absl::OutOfRangeError(absl::StrCat("the journal no longer holds pulse ", at.pulse_id,
                                              " (it starts at ", journal_start(), ")"));
  }
  Transcript t(origin());
  t.chain_ = at;
  t.Absorb(journal().substr(at.pulse_id - journal_start(), to_pulse - at.pulse_id));
  const absl::string_view kept = journal().substr(0, to_pulse - journal_start());
  t.buffer_.assign(kept.data(), kept.size());
  return t;
}

}  // namespace hecate

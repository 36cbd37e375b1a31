#include "sessions/checkpoint.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "base/status_macros.h"
#include "sessions/byte_io.h"
#include "sessions/checkpoint_format.h"
#include "sessions/crc32c.h"
#include "sessions/state_invariants.h"

namespace hecate {
namespace {

namespace fmt = checkpoint_format;

constexpr bool kHostIsLittleEndian =
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    false;
#else
    true;
#endif

size_t SectionSize(const StateTensor& t) {
  return 2 + t.name.size() + 1 + 8 * t.shape.size() + 4 * t.size + fmt::kCrcSize;
}

void PutFloats(absl::Span<const float> values, std::string* out) {
  if (kHostIsLittleEndian) {
    out->append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    return;
  }
  ByteWriter w(out);
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    w.PutU32(bits);
  }
}

void GetFloats(absl::string_view bytes, absl::Span<float> out) {
  if (kHostIsLittleEndian) {
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return;
  }
  ByteReader r(bytes);
  for (float& v : out) {
    uint32_t bits = 0;
    r.ReadU32(&bits);
    std::memcpy(&v, &bits, sizeof(v));
  }
}

absl::Status Truncated(absl::string_view what, size_t size) {
  return absl::DataLossError(
      absl::StrCat("checkpoint is truncated: ", size, " bytes end inside the ", what));
}

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("checkpoint is corrupt: ", what));
}

// Untrusted bytes made safe for an error message.
std::string Printable(absl::string_view bytes) {
  std::string out(bytes.substr(0, 80));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

std::string PeriodsString(const std::vector<uint64_t>& periods) {
  return absl::StrCat("(", absl::StrJoin(periods, ","), ")");
}

// The version-1 header, as read.
struct Header {
  absl::string_view fingerprint;
  uint64_t pulse_id = 0;
  uint32_t vocab_size = 0, d_model = 0, n_layers = 0, n_heads = 0, window = 0, d_ff = 0;
  std::vector<uint64_t> periods;
  std::vector<uint64_t> phases;
  uint32_t tensor_count = 0;
  uint64_t payload_length = 0;
};

absl::Status ParseHeaderV1(absl::string_view body, Header* h) {
  ByteReader r(body);
  uint32_t levels = 0;
  if (!r.ReadBytes(fmt::kFingerprintSize, &h->fingerprint) || !r.ReadU64(&h->pulse_id) ||
      !r.ReadU32(&h->vocab_size) || !r.ReadU32(&h->d_model) || !r.ReadU32(&h->n_layers) ||
      !r.ReadU32(&h->n_heads) || !r.ReadU32(&h->window) || !r.ReadU32(&h->d_ff) ||
      !r.ReadU32(&levels)) {
    return Corrupt(absl::StrCat("header length ", body.size(), " is too short"));
  }
  if (levels == 0 || levels > fmt::kMaxLevels) {
    return Corrupt(absl::StrCat("level count ", levels, " is outside 1..", fmt::kMaxLevels));
  }
  if (body.size() != fmt::HeaderLength(levels)) {
    return Corrupt(absl::StrCat("header length ", body.size(), " does not match ", levels,
                                " levels (", fmt::HeaderLength(levels), " expected)"));
  }
  for (uint32_t j = 0; j < levels; ++j) {
    uint32_t period = 0;
    uint64_t phase = 0;
    r.ReadU32(&period);  // lengths were checked above
    r.ReadU64(&phase);
    h->periods.push_back(period);
    h->phases.push_back(phase);
  }
  r.ReadU32(&h->tensor_count);
  r.ReadU64(&h->payload_length);
  return absl::OkStatus();
}

absl::Status CheckModel(const Model& model, const Header& h) {
  if (h.fingerprint != model.fingerprint()) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint belongs to model ", Printable(h.fingerprint),
                     ", but the loaded model is ",
                     model.fingerprint()));
  }
  const ModelConfig& c = model.config();
  std::vector<uint64_t> model_periods(c.periods.begin(), c.periods.end());
  if (h.vocab_size != static_cast<uint32_t>(c.vocab_size) ||
      h.d_model != static_cast<uint32_t>(c.d_model) ||
      h.n_layers != static_cast<uint32_t>(c.n_layers) ||
      h.n_heads != static_cast<uint32_t>(c.n_heads) ||
      h.window != static_cast<uint32_t>(c.window) || h.d_ff != static_cast<uint32_t>(c.d_ff) ||
      h.periods != model_periods) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint config V=", h.vocab_size, " D=", h.d_model, " L=", h.n_layers,
        " H=", h.n_heads, " W=", h.window, " P=", PeriodsString(h.periods), " F=", h.d_ff,
        " does not match the loaded model's ", c.Summary()));
  }
  for (size_t j = 0; j < h.periods.size(); ++j) {
    const uint64_t phase = h.pulse_id % h.periods[j];
    if (h.phases[j] != phase) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint breaks the pulse-id invariant: level ", j, " phase is ", h.phases[j],
          " but pulse id ", h.pulse_id, " % period ", h.periods[j], " = ", phase));
    }
  }
  return absl::OkStatus();
}

// Reads section `index`, which must be `t`, into `state`.
absl::Status ReadSection(ByteReader& r, size_t index, const StateTensor& t, ModelState& state) {
  const size_t start = r.position();
  ByteReader whole = r;  // to take the CRC'd span afterwards
  uint16_t name_length = 0;
  absl::string_view name;
  uint8_t rank = 0;
  const std::string where = absl::StrCat("section ", index);
  if (!r.ReadU16(&name_length) || !r.ReadBytes(name_length, &name) || !r.ReadU8(&rank)) {
    return Corrupt(absl::StrCat(where, " header runs past the payload"));
  }
  if (name_length == 0 || rank == 0 || rank > fmt::kMaxRank) {
    return Corrupt(absl::StrCat(where, " has name length ", name_length, " and rank ",
                                static_cast<int>(rank)));
  }
  std::vector<int64_t> dims(rank);
  uint64_t elements = 1;
  for (uint8_t i = 0; i < rank; ++i) {
    uint64_t dim = 0;
    if (!r.ReadU64(&dim)) return Corrupt(absl::StrCat(where, " dims run past the payload"));
    // Bound every factor by the bytes left, so the product cannot overflow.
    if (dim == 0 || elements > r.remaining() / 4 / dim) {
      return Corrupt(absl::StrCat(where, " dim ", static_cast<int>(i), " = ", dim,
                                  " does not fit in the remaining bytes"));
    }
    elements *= dim;
    dims[i] = static_cast<int64_t>(dim);
  }
  absl::string_view data;
  uint32_t stored_crc = 0;
  if (!r.ReadBytes(elements * 4, &data) || !r.ReadU32(&stored_crc)) {
    return Corrupt(absl::StrCat(where, " data runs past the payload"));
  }
  absl::string_view covered;
  whole.ReadBytes(r.position() - start - fmt::kCrcSize, &covered);
  const uint32_t actual_crc = crc32c::Value(covered);
  if (crc32c::Unmask(stored_crc) != actual_crc) {
    return Corrupt(absl::StrCat(where, " ('", Printable(name), "') checksum mismatch"));
  }
  if (name != t.name || dims != t.shape) {
    return Corrupt(absl::StrCat(where, " holds '", Printable(name), "' ", ShapeString(dims),
                                " where the state layout has '", t.name, "' ",
                                ShapeString(t.shape)));
  }
  GetFloats(data, state.tensor(t));
  return absl::OkStatus();
}

size_t TranscriptSectionSize(const Transcript& t) {
  return fmt::kTranscriptFixedSize + t.chain().tail.size() + t.journal_size();
}

void PutTranscriptSection(const Transcript& t, std::string* out) {
  const size_t start = out->size();
  ByteWriter w(out);
  w.PutU64(t.origin());
  w.PutU64(t.journal_start());
  w.PutU64(t.journal_size());
  w.PutBytes(DigestBytes(t.chain().chain));
  w.PutBytes(t.chain().tail);
  w.PutBytes(DigestBytes(t.digest()));
  w.PutBytes(t.journal());
  w.PutU32(crc32c::Mask(crc32c::Value(out->data() + start, out->size() - start)));
}

Sha256Digest ToDigest(absl::string_view bytes) {
  Sha256Digest d;
  std::memcpy(d.data(), bytes.data(), d.size());
  return d;
}

// Reads the transcript section of a state at `pulse_id`.
absl::StatusOr<Transcript> ReadTranscriptSection(ByteReader& r, uint64_t pulse_id) {
  ByteReader whole = r;
  const size_t start = r.position();
  TranscriptChain chain;
  chain.pulse_id = pulse_id;
  uint64_t journal_start = 0, journal_length = 0;
  absl::string_view chain_value, tail, digest, journal;
  uint32_t stored_crc = 0;
  if (!r.ReadU64(&chain.origin) || !r.ReadU64(&journal_start) || !r.ReadU64(&journal_length) ||
      !r.ReadBytes(kSha256DigestSize, &chain_value)) {
    return Corrupt("transcript section runs past the payload");
  }
  if (chain.origin > pulse_id) {
    return Corrupt(absl::StrCat("transcript origin ", chain.origin, " is after pulse id ",
                                pulse_id));
  }
  const size_t tail_length = static_cast<size_t>((pulse_id - chain.origin) % kTranscriptBlockBytes);
  if (!r.ReadBytes(tail_length, &tail) || !r.ReadBytes(kSha256DigestSize, &digest) ||
      journal_length > r.remaining() || !r.ReadBytes(journal_length, &journal) ||
      !r.ReadU32(&stored_crc)) {
    return Corrupt("transcript section runs past the payload");
  }
  absl::string_view covered;
  whole.ReadBytes(r.position() - start - fmt::kCrcSize, &covered);
  if (crc32c::Unmask(stored_crc) != crc32c::Value(covered)) {
    return Corrupt("transcript section checksum mismatch");
  }
  chain.chain = ToDigest(chain_value);
  chain.tail.assign(tail.data(), tail.size());
  absl::StatusOr<Transcript> t = Transcript::FromParts(std::move(chain), journal_start, journal);
  if (!t.ok()) return Corrupt(t.status().message());
  if (!DigestsEqual(t->digest(), ToDigest(digest))) {
    return Corrupt(absl::StrCat("transcript digest ", DigestHex(ToDigest(digest)),
                                " does not match its bytes (", t->digest_hex(), ")"));
  }
  return t;
}

absl::StatusOr<std::string> Encode(const Model& model, const ModelState& state,
                                   const Transcript* transcript,
                                   const CheckpointSigning& signing);
absl::StatusOr<DecodedCheckpoint> Decode(const Model& model, absl::string_view sealed_bytes,
                                         std::optional<uint64_t> expected_pulse_id,
                                         const CheckpointSigning& signing);

}  // namespace

size_t MaxCheckpointSize(const ModelConfig& config, size_t max_journal_bytes) {
  return MaxCheckpointSize(config) + fmt::kTranscriptFixedSize + kTranscriptBlockBytes +
         max_journal_bytes;
}

absl::StatusOr<std::string> EncodeCheckpoint(const Model& model, const ModelState& state,
                                             const CheckpointSigning& signing) {
  return Encode(model, state, nullptr, signing);
}

absl::StatusOr<std::string> EncodeCheckpoint(const Model& model, const ModelState& state,
                                             const Transcript& transcript,
                                             const CheckpointSigning& signing) {
  if (transcript.pulse_id() != state.pulse_id()) {
    return absl::InvalidArgumentError(absl::StrCat("transcript is at pulse id ",
                                                   transcript.pulse_id(), ", the state at ",
                                                   state.pulse_id()));
  }
  return Encode(model, state, &transcript, signing);
}

absl::StatusOr<ModelState> DecodeCheckpoint(const Model& model, absl::string_view sealed_bytes,
                                            std::optional<uint64_t> expected_pulse_id,
                                            const CheckpointSigning& signing) {
  HECATE_ASSIGN_OR_RETURN(DecodedCheckpoint decoded,
                          Decode(model, sealed_bytes, expected_pulse_id, signing));
  return std::move(decoded.state);
}

absl::StatusOr<DecodedCheckpoint> DecodeCheckpointWithTranscript(
    const Model& model, absl::string_view bytes, std::optional<uint64_t> expected_pulse_id,
    const CheckpointSigning& signing) {
  return Decode(model, bytes, expected_pulse_id, signing);
}

size_t MaxCheckpointSize(const ModelConfig& config) {
  return CheckpointSize(config) + fmt::kSealSize;
}

size_t CheckpointSize(const ModelConfig& config) {
  size_t size = fmt::kPreambleSize + fmt::HeaderLength(config.periods.size()) + fmt::kCrcSize +
                fmt::kFooterSize;
  const StateLayout layout(config);
  for (const StateTensor& t : layout.tensors()) size += SectionSize(t);
  return size;
}

namespace {

absl::StatusOr<std::string> Encode(const Model& model, const ModelState& state,
                                   const Transcript* transcript,
                                   const CheckpointSigning& signing) {
  const ModelConfig& config = model.config();
  if (state.config() != config) {
    return absl::InvalidArgumentError(absl::StrCat("state has config ", state.config().Summary(),
                                                   " but the model has ", config.Summary()));
  }
  if (model.fingerprint().size() != fmt::kFingerprintSize) {
    return absl::InternalError(absl::StrCat("model fingerprint has ", model.fingerprint().size(),
                                            " characters, not ", fmt::kFingerprintSize));
  }
  HECATE_RETURN_IF_ERROR(VerifyStateInvariants(state));

  const std::vector<StateTensor>& tensors = state.layout().tensors();
  size_t payload = 0;
  for (const StateTensor& t : tensors) payload += SectionSize(t);
  if (transcript != nullptr) payload += TranscriptSectionSize(*transcript);

  std::string out;
  out.reserve(MaxCheckpointSize(config) +
              (transcript != nullptr ? TranscriptSectionSize(*transcript) : 0));
  ByteWriter w(&out);
  w.PutBytes(fmt::kMagic);
  const bool signed_file = signing.key != nullptr;
  if (transcript == nullptr) {
    w.PutU32(signed_file ? fmt::kSignedVersion : fmt::kUnsignedVersion);
  } else {
    w.PutU32(signed_file ? fmt::kSignedTranscriptVersion : fmt::kUnsignedTranscriptVersion);
  }
  w.PutU32(static_cast<uint32_t>(fmt::HeaderLength(config.periods.size())));
  w.PutBytes(model.fingerprint());
  w.PutU64(state.pulse_id());
  for (int v : {config.vocab_size, config.d_model, config.n_layers, config.n_heads,
                config.window, config.d_ff}) {
    w.PutU32(static_cast<uint32_t>(v));
  }
  w.PutU32(static_cast<uint32_t>(config.periods.size()));
  for (int p : config.periods) {
    w.PutU32(static_cast<uint32_t>(p));
    w.PutU64(state.pulse_id() % static_cast<uint64_t>(p));
  }
  w.PutU32(static_cast<uint32_t>(tensors.size()));
  w.PutU64(payload);
  const uint32_t header_crc = crc32c::Mask(crc32c::Value(out));
  w.PutU32(header_crc);

  for (const StateTensor& t : tensors) {
    const size_t start = out.size();
    w.PutU16(static_cast<uint16_t>(t.name.size()));
    w.PutBytes(t.name);
    w.PutU8(static_cast<uint8_t>(t.shape.size()));
    for (int64_t dim : t.shape) w.PutU64(static_cast<uint64_t>(dim));
    PutFloats(state.tensor(t), &out);
    w.PutU32(crc32c::Mask(crc32c::Value(out.data() + start, out.size() - start)));
  }
  if (transcript != nullptr) PutTranscriptSection(*transcript, &out);

  const size_t footer_start = out.size();
  w.PutU64(footer_start + fmt::kFooterSize);
  w.PutU32(header_crc);
  w.PutU32(crc32c::Mask(crc32c::Value(out.data() + footer_start, 12)));
  if (signing.key != nullptr) SealCheckpoint(*signing.key, &out);
  return out;
}

absl::StatusOr<DecodedCheckpoint> Decode(const Model& model, absl::string_view sealed_bytes,
                                         std::optional<uint64_t> expected_pulse_id,
                                         const CheckpointSigning& signing) {
  // The signature before anything else; from here on `bytes` ends at the footer.
  HECATE_ASSIGN_OR_RETURN(const UnsealedCheckpoint unsealed, CheckSeal(sealed_bytes, signing));
  const absl::string_view bytes = unsealed.body;
  // Preamble, header and header CRC: the framing every version shares.
  ByteReader r(bytes);
  absl::string_view magic;
  uint32_t version = 0, header_length = 0;
  if (!r.ReadBytes(fmt::kMagic.size(), &magic)) return Truncated("magic", bytes.size());
  if (magic != fmt::kMagic) {
    return absl::DataLossError("not a Hecate checkpoint: bad magic bytes");
  }
  if (!r.ReadU32(&version) || !r.ReadU32(&header_length)) {
    return Truncated("preamble", bytes.size());
  }
  if (header_length > fmt::kMaxHeaderLength) {
    return Corrupt(absl::StrCat("header length ", header_length, " exceeds ",
                                fmt::kMaxHeaderLength));
  }
  absl::string_view body;
  uint32_t stored_header_crc = 0;
  if (!r.ReadBytes(header_length, &body) || !r.ReadU32(&stored_header_crc)) {
    return Truncated("header", bytes.size());
  }
  const uint32_t header_crc =
      crc32c::Value(bytes.substr(0, fmt::kPreambleSize + header_length));
  if (crc32c::Unmask(stored_header_crc) != header_crc) return Corrupt("header checksum mismatch");
  if (version == 0) return Corrupt("format version 0");
  if (version > fmt::kFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint format version ", version,
                                                   " is newer than supported ",
                                                   fmt::kFormatVersion));
  }
  // CheckSeal found a seal exactly when the version says signed; a header
  // CRC that verifies cannot disagree with what it read.
  if (unsealed.sealed != fmt::IsSignedVersion(version)) {
    return Corrupt(absl::StrCat("format version ", version, " with", unsealed.sealed ? "" : "out",
                                " a seal"));
  }

  Header h;
  HECATE_RETURN_IF_ERROR(ParseHeaderV1(body, &h));
  // The exact file size the header implies; header_length is small, so only
  // the payload length can overflow.
  const size_t fixed = fmt::kPreambleSize + header_length + fmt::kCrcSize + fmt::kFooterSize;
  if (bytes.size() < fixed || h.payload_length > bytes.size() - fixed) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint is truncated: ", bytes.size(), " bytes, the header describes ",
        h.payload_length, " bytes of sections plus ", fixed, " of framing"));
  }
  if (bytes.size() - fixed != h.payload_length) {
    return Corrupt(absl::StrCat(bytes.size() - fixed - h.payload_length,
                                " trailing bytes after the footer"));
  }

  // Footer: binds the file's length and its header.
  const absl::string_view footer = bytes.substr(bytes.size() - fmt::kFooterSize);
  ByteReader f(footer);
  uint64_t total_length = 0;
  uint32_t footer_header_crc = 0, footer_crc = 0;
  f.ReadU64(&total_length);
  f.ReadU32(&footer_header_crc);
  f.ReadU32(&footer_crc);
  if (crc32c::Unmask(footer_crc) != crc32c::Value(footer.substr(0, 12))) {
    return Corrupt("footer checksum mismatch");
  }
  if (total_length != bytes.size()) {
    return Corrupt(absl::StrCat("footer records ", total_length, " bytes, the file has ",
                                bytes.size()));
  }
  if (footer_header_crc != stored_header_crc) {
    return Corrupt("footer does not belong to this header (header CRC differs)");
  }

  HECATE_RETURN_IF_ERROR(CheckModel(model, h));
  ModelState state(model.config());
  state.set_pulse_id(h.pulse_id);
  const std::vector<StateTensor>& tensors = state.layout().tensors();
  if (h.tensor_count != tensors.size()) {
    return Corrupt(absl::StrCat("header lists ", h.tensor_count, " tensors, the model's state has ",
                                tensors.size()));
  }
  absl::string_view payload;
  r.ReadBytes(h.payload_length, &payload);  // the size check above guarantees it
  ByteReader sections(payload);
  for (size_t i = 0; i < tensors.size(); ++i) {
    HECATE_RETURN_IF_ERROR(ReadSection(sections, i, tensors[i], state));
  }
  std::optional<Transcript> transcript;
  if (fmt::HasTranscript(version)) {
    HECATE_ASSIGN_OR_RETURN(Transcript t, ReadTranscriptSection(sections, h.pulse_id));
    transcript = std::move(t);
  }
  if (sections.remaining() != 0) {
    return Corrupt(absl::StrCat(sections.remaining(), " bytes after the last section"));
  }
  if (absl::Status s = VerifyStateInvariants(state); !s.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint at pulse id ", h.pulse_id, ": ",
                                            s.message()));
  }
  if (expected_pulse_id.has_value() && *expected_pulse_id != h.pulse_id) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint is at pulse id ", h.pulse_id,
                                                      ", but pulse id ", *expected_pulse_id,
                                                      " was expected"));
  }
  return DecodedCheckpoint{std::move(state), std::move(transcript)};
}

}  // namespace

}  // namespace hecate

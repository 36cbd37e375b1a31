#include "sessions/checkpoint_test_util.h"

#include <random>
#include <utility>

#include "glog/logging.h"
#include "sessions/byte_io.h"
#include "sessions/checkpoint_format.h"
#include "sessions/crc32c.h"

namespace hecate::testing {

namespace fmt = checkpoint_format;

ModelConfig MicroConfig() {
  ModelConfig c;
  c.vocab_size = 256;
  c.d_model = 8;
  c.n_layers = 2;
  c.n_heads = 2;
  c.window = 4;
  c.periods = {1, 2, 4};
  c.d_ff = 8;
  return c;
}

std::shared_ptr<const Model> MicroModel(uint64_t seed) {
  ModelConfig config = MicroConfig();
  Weights weights = Weights::Random(config, seed);
  return std::make_shared<const Model>(std::move(config), std::move(weights));
}

void FillRandomValidState(ModelState& state, uint64_t pulse_id, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : state.data()) {
    do v = normal(rng);
    while (v == 0.0f);
  }
  state.set_pulse_id(pulse_id);
  const ModelConfig& c = state.config();
  const uint64_t window = static_cast<uint64_t>(c.window);
  const size_t d = static_cast<size_t>(c.head_dim());
  for (const StateTensor& t : state.layout().tensors()) {
    absl::Span<float> values = state.tensor(t);
    auto zero_all = [&] {
      for (float& v : values) v = 0.0f;
    };
    if (t.kind == StateKind::kWindowKeys || t.kind == StateKind::kWindowValues) {
      for (size_t h = 0; h < static_cast<size_t>(c.n_heads); ++h) {
        for (uint64_t slot = pulse_id; slot < window; ++slot) {
          for (size_t i = 0; i < d; ++i) values[(h * window + slot) * d + i] = 0.0f;
        }
      }
      continue;
    }
    const uint64_t period = static_cast<uint64_t>(c.periods[t.level]);
    const bool memory = t.kind == StateKind::kMemory || t.kind == StateKind::kMomentum;
    if (memory && pulse_id < period) zero_all();  // the level never fired
    if (t.kind == StateKind::kErrorBuffer && pulse_id % period == 0) zero_all();
    if (t.kind == StateKind::kMomentum && period == 1) zero_all();
  }
}

CheckpointSigning TestSigning(absl::string_view material, bool allow_unsigned) {
  absl::StatusOr<CheckpointKey> key = CheckpointKey::FromMaterial(material);
  CHECK(key.ok()) << key.status();
  return CheckpointSigning{std::make_shared<const CheckpointKey>(*std::move(key)),
                           allow_unsigned};
}

void PutU32At(std::string& bytes, size_t offset, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

void PutU64At(std::string& bytes, size_t offset, uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

bool RecomputeChecksums(std::string& bytes) {
  ByteReader r(bytes);
  uint32_t version = 0, header_length = 0;
  if (!r.Skip(fmt::kMagic.size()) || !r.ReadU32(&version) || !r.ReadU32(&header_length)) {
    return false;
  }
  // A signed (version-2) file's footer sits before its seal, which is left
  // as it is: the MAC no longer matches edited bytes.
  size_t end = bytes.size();
  if (version == fmt::kSignedVersion && end >= fmt::kPreambleSize + fmt::kSealSize &&
      absl::string_view(bytes).substr(end - fmt::kSealSize, fmt::kSealMagic.size()) ==
          fmt::kSealMagic) {
    end -= fmt::kSealSize;
  }
  r = ByteReader(absl::string_view(bytes).substr(0, end));
  r.Skip(fmt::kPreambleSize);
  if (!r.Skip(header_length) || r.remaining() < fmt::kCrcSize) return false;
  const size_t header_crc_at = r.position();
  const uint32_t header_crc = crc32c::Mask(crc32c::Value(bytes.data(), header_crc_at));
  PutU32At(bytes, header_crc_at, header_crc);
  r.Skip(fmt::kCrcSize);
  if (r.remaining() < fmt::kFooterSize) return true;
  const size_t footer_at = end - fmt::kFooterSize;

  // Sections, as far as their framing stays inside the bytes before the footer.
  ByteReader sections(absl::string_view(bytes).substr(0, footer_at));
  sections.Skip(r.position());
  for (;;) {
    const size_t start = sections.position();
    uint16_t name_length = 0;
    uint8_t rank = 0;
    if (!sections.ReadU16(&name_length) || !sections.Skip(name_length) ||
        !sections.ReadU8(&rank)) {
      break;
    }
    uint64_t elements = 1;
    bool ok = true;
    for (uint8_t i = 0; i < rank && ok; ++i) {
      uint64_t dim = 0;
      ok = sections.ReadU64(&dim) && dim != 0 && elements <= sections.remaining() / 4 / dim;
      if (ok) elements *= dim;
    }
    if (!ok || !sections.Skip(elements * 4) || sections.remaining() < fmt::kCrcSize) break;
    const size_t crc_at = sections.position();
    PutU32At(bytes, crc_at, crc32c::Mask(crc32c::Value(bytes.data() + start, crc_at - start)));
    sections.Skip(fmt::kCrcSize);
  }

  PutU64At(bytes, footer_at, end);
  PutU32At(bytes, footer_at + 8, header_crc);
  PutU32At(bytes, footer_at + 12, crc32c::Mask(crc32c::Value(bytes.data() + footer_at, 12)));
  return true;
}

}  // namespace hecate::testing

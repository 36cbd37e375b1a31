// libFuzzer target: arbitrary bytes into the checkpoint decoder.
//
// Every input is decoded as given and with its CRCs recomputed
// (checkpoint_test_util.h) so that mutations reach the checks behind the
// checksums, each without a key and with the fuzzer's key (seeds signed with
// it reach the parser behind a verified seal). The decoder must never crash, read out of range or leak; it
// must reject with one of the documented codes; and whatever it accepts must
// re-encode to exactly the same bytes. Build and run: tools/fuzz_checkpoint.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "sessions/checkpoint.h"
#include "sessions/checkpoint_format.h"
#include "sessions/checkpoint_test_util.h"

namespace {

// The micro model the seed corpus was written for (make_checkpoint_corpus).
constexpr uint64_t kFuzzModelSeed = 20240601;

const hecate::Model& FuzzModel() {
  static const std::shared_ptr<const hecate::Model>* model =
      new std::shared_ptr<const hecate::Model>(hecate::testing::MicroModel(kFuzzModelSeed));
  return **model;
}

// The fuzzer's key: seeds signed with it (make_checkpoint_corpus) reach the
// parser behind a verified seal.
const hecate::CheckpointSigning& FuzzSigning() {
  static const hecate::CheckpointSigning* signing =
      new hecate::CheckpointSigning(hecate::testing::TestSigning());
  return *signing;
}

// Decodes `bytes` under `signing`; an accepted file must re-encode to itself
// (a signed one, read without a key, up to the seal's key id and MAC).
void Check(const hecate::Model& model, absl::string_view bytes,
           const hecate::CheckpointSigning& signing) {
  absl::StatusOr<hecate::DecodedCheckpoint> state =
      hecate::DecodeCheckpointWithTranscript(model, bytes, std::nullopt, signing);
  if (!state.ok()) {
    const absl::StatusCode code = state.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kInvalidArgument &&
        code != absl::StatusCode::kFailedPrecondition) {
      std::abort();  // an undocumented error code
    }
    return;
  }
  // Accepted: version 1 to 4; 3 and 4 carry a transcript.
  const bool is_signed = bytes.size() > 8 && hecate::checkpoint_format::IsSignedVersion(
                                                 static_cast<uint8_t>(bytes[8]));
  const hecate::CheckpointSigning& resign = is_signed ? FuzzSigning() : hecate::CheckpointSigning{};
  absl::StatusOr<std::string> again =
      state->transcript.has_value()
          ? hecate::EncodeCheckpoint(model, state->state, *state->transcript, resign)
          : hecate::EncodeCheckpoint(model, state->state, resign);
  if (!again.ok() || again->size() != bytes.size()) std::abort();
  const size_t compared = is_signed && signing.key == nullptr ? bytes.size() - 40 : bytes.size();
  if (absl::string_view(*again).substr(0, compared) != bytes.substr(0, compared)) {
    std::abort();  // accepted a non-canonical file
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const hecate::Model& model = FuzzModel();
  const absl::string_view raw(reinterpret_cast<const char*>(data), size);
  const hecate::CheckpointSigning keyless;
  const hecate::CheckpointSigning keyed = FuzzSigning();
  Check(model, raw, keyless);
  Check(model, raw, keyed);
  std::string repaired(raw);
  if (hecate::testing::RecomputeChecksums(repaired) && repaired != raw) {
    Check(model, repaired, keyless);
    Check(model, repaired, keyed);
  }
  return 0;
}

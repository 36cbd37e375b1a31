// libFuzzer target: arbitrary bytes into the checkpoint decoder.
//
// Every input is decoded twice: as given, and with its CRCs recomputed
// (checkpoint_test_util.h) so that mutations reach the checks behind the
// checksums. The decoder must never crash, read out of range or leak; it
// must reject with one of the documented codes; and whatever it accepts must
// re-encode to exactly the same bytes. Build and run: tools/fuzz_checkpoint.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"

namespace {

// The micro model the seed corpus was written for (make_checkpoint_corpus).
constexpr uint64_t kFuzzModelSeed = 20240601;

const hecate::Model& FuzzModel() {
  static const std::shared_ptr<const hecate::Model>* model =
      new std::shared_ptr<const hecate::Model>(hecate::testing::MicroModel(kFuzzModelSeed));
  return **model;
}

void Check(const hecate::Model& model, absl::string_view bytes) {
  absl::StatusOr<hecate::ModelState> state = hecate::DecodeCheckpoint(model, bytes);
  if (!state.ok()) {
    const absl::StatusCode code = state.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kInvalidArgument &&
        code != absl::StatusCode::kFailedPrecondition) {
      std::abort();  // an undocumented error code
    }
    return;
  }
  absl::StatusOr<std::string> again = hecate::EncodeCheckpoint(model, *state);
  if (!again.ok() || *again != bytes) std::abort();  // accepted a non-canonical file
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const hecate::Model& model = FuzzModel();
  const absl::string_view raw(reinterpret_cast<const char*>(data), size);
  Check(model, raw);
  std::string repaired(raw);
  if (hecate::testing::RecomputeChecksums(repaired) && repaired != raw) Check(model, repaired);
  return 0;
}

// Helpers for checkpoint and session tests (and the fuzzer): a micro model,
// random states that satisfy the state invariants, and in-place edits of
// checkpoint bytes with their CRCs recomputed, so that tests can show the
// checks behind the CRCs reject an edited file.
#ifndef HECATE_SESSIONS_CHECKPOINT_TEST_UTIL_H_
#define HECATE_SESSIONS_CHECKPOINT_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/model.h"
#include "runtime/model_config.h"
#include "runtime/model_state.h"
#include "sessions/checkpoint_key.h"

namespace hecate::testing {

// D=8 L=2 H=2 W=4 P=(1,2,4) F=8: every state kind, checkpoints of ~3 KB.
ModelConfig MicroConfig();
std::shared_ptr<const Model> MicroModel(uint64_t seed);

// Random normal values everywhere the invariants (state_invariants.h) allow
// a non-zero, zeros elsewhere; pulse id `pulse_id`. Deterministic for a seed.
void FillRandomValidState(ModelState& state, uint64_t pulse_id, uint64_t seed);

// A checkpoint key for tests, the fuzzer and its seed corpus: the key made
// from `material` (>= 32 bytes), signing with it (allow_unsigned as given).
inline constexpr absl::string_view kFuzzKeyMaterial = "hecate checkpoint fuzzer key, 32+ bytes";
CheckpointSigning TestSigning(absl::string_view material = kFuzzKeyMaterial,
                              bool allow_unsigned = false);

// Byte offsets into a version-1 (or -2) checkpoint.
inline constexpr size_t kVersionOffset = 8;
inline constexpr size_t kPulseIdOffset = 16 + 64;
// Offset of level j's stored phase.
constexpr size_t PhaseOffset(int level) { return kPulseIdOffset + 8 + 24 + 4 + 12 * level + 4; }

void PutU32At(std::string& bytes, size_t offset, uint32_t value);
void PutU64At(std::string& bytes, size_t offset, uint64_t value);

// Recomputes the header CRC, every section CRC that the framing lets it find,
// and the footer (length, header CRC copy, footer CRC), in place; a signed
// file's seal is kept as it is (what a forger without the key can do). Never reads
// out of range, whatever `bytes` holds. False when not even the header could
// be framed.
bool RecomputeChecksums(std::string& bytes);

}  // namespace hecate::testing

#endif  // HECATE_SESSIONS_CHECKPOINT_TEST_UTIL_H_

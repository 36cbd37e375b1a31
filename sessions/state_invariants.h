// What any reachable session state satisfies, checked before a state is
// written to or accepted from a checkpoint.
//
// From docs/MODEL.md sections 2-4, for a state at pulse id N:
//   * every float is finite;
//   * error buffer G_j holds N % p_j tokens of gradient, so it is exactly
//     zero when N % p_j == 0 (the conductor just fired level j, or N == 0);
//   * M_j and S_j only change when level j fires (every token for p_j == 1),
//     so both are zero while N < p_j;
//   * S_j of a level with p_j == 1 (the gated delta rule) is always zero;
//   * window ring slot s is written at pulse s first, so slots N..W-1 are
//     zero while N < W, and slots 0..min(N, W)-1 are not all zero (a written
//     slot holds a token's key and value projections): the ring's fill is
//     min(N, W), which binds a pulse id below W exactly.
// A checkpoint whose pulse id was edited (with recomputed CRCs) usually
// breaks one of these; the stored per-level phases catch the rest of the
// edits that leave the phases stale. What no check on the state can catch
// (an edit after the window has filled that keeps every level's phase-zero
// and never-fired rules) only a signature catches (checkpoint_key.h).
#ifndef HECATE_SESSIONS_STATE_INVARIANTS_H_
#define HECATE_SESSIONS_STATE_INVARIANTS_H_

#include "absl/status/status.h"
#include "runtime/model_state.h"

namespace hecate {

// OK, or DATA_LOSS naming the tensor, the element and the rule it breaks.
absl::Status VerifyStateInvariants(const ModelState& state);

}  // namespace hecate

#endif  // HECATE_SESSIONS_STATE_INVARIANTS_H_

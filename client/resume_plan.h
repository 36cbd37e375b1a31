// ResumeOffset: which bytes of a text still have to be sent to a session,
// given where the session is (the plan behind HecateClient::StreamResumable).
//
// A client means a session to consume `size` bytes starting at pulse id
// `start_pulse`. After a lost reply the session reports `current_pulse`;
// the bytes before offset current_pulse - start_pulse are applied, the rest
// are not (chunks are applied whole or not at all, one byte per pulse).
//
//   ResumeOffset(100, 50, 120) == 20   // send bytes [20, 50) at pulse 120
//   ResumeOffset(100, 50, 150) == 50   // all applied: send nothing
//   ResumeOffset(100, 50, 90)          // FAILED_PRECONDITION: not there yet
#ifndef HECATE_CLIENT_RESUME_PLAN_H_
#define HECATE_CLIENT_RESUME_PLAN_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace hecate {

// The offset of the first byte not yet applied. FAILED_PRECONDITION when the
// session is before `start_pulse` or past `start_pulse + size` (something
// else was applied: resending any part of the text would be wrong).
absl::StatusOr<size_t> ResumeOffset(uint64_t start_pulse, size_t size, uint64_t current_pulse);

}  // namespace hecate

#endif  // HECATE_CLIENT_RESUME_PLAN_H_

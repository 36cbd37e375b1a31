#include "client/resume_plan.h"

#include "absl/strings/str_cat.h"

namespace hecate {

absl::StatusOr<size_t> ResumeOffset(uint64_t start_pulse, size_t size, uint64_t current_pulse) {
  if (current_pulse < start_pulse || current_pulse - start_pulse > size) {
    return absl::FailedPreconditionError(
        absl::StrCat("session is at pulse id ", current_pulse, ", outside the text's pulses ",
                     start_pulse, "..", start_pulse + size,
                     ": it was moved by something other than this text"));
  }
  return static_cast<size_t>(current_pulse - start_pulse);
}

}  // namespace hecate

#include "sessions/state_invariants.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace hecate {
namespace {

// Index of the first element of `values` that is not +0 or -0, or -1.
int64_t FirstNonZero(absl::Span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] != 0.0f) return static_cast<int64_t>(i);
  }
  return -1;
}

absl::Status MustBeZero(const StateTensor& t, absl::Span<const float> values,
                        size_t base_index, const std::string& why) {
  const int64_t i = FirstNonZero(values);
  if (i < 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "state tensor ", t.name, " element ", base_index + static_cast<size_t>(i), " is ",
      values[static_cast<size_t>(i)], " but must be zero: ", why));
}

}  // namespace

absl::Status VerifyStateInvariants(const ModelState& state) {
  const ModelConfig& config = state.config();
  const uint64_t pulse = state.pulse_id();
  for (const StateTensor& t : state.layout().tensors()) {
    absl::Span<const float> values = state.tensor(t);
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        return absl::DataLossError(absl::StrCat("state tensor ", t.name,
                                                " holds a non-finite value (", values[i],
                                                ") at element ", i));
      }
    }
    if (t.kind == StateKind::kWindowKeys || t.kind == StateKind::kWindowValues) {
      const uint64_t window = static_cast<uint64_t>(config.window);
      const size_t heads = static_cast<size_t>(t.shape[0]);
      const size_t head_dim = static_cast<size_t>(t.shape[2]);
      // Slots 0..min(N, W)-1 have been written: each holds a projection of a
      // token in some head (exactly zero in every head only for a model whose
      // attention projection of that token is zero).
      const uint64_t filled = pulse < window ? pulse : window;
      for (uint64_t slot = 0; slot < filled; ++slot) {
        bool written = false;
        for (size_t h = 0; h < heads && !written; ++h) {
          written = FirstNonZero(values.subspan((h * window + slot) * head_dim, head_dim)) >= 0;
        }
        if (!written) {
          return absl::DataLossError(absl::StrCat(
              "state tensor ", t.name, " window slot ", slot,
              " is empty in every head, but pulse id ", pulse, " has written slots 0..",
              filled - 1));
        }
      }
      if (pulse >= window) continue;
      for (size_t h = 0; h < heads; ++h) {
        const size_t start = (h * window + pulse) * head_dim;
        const size_t count = (window - pulse) * head_dim;
        absl::Status s = MustBeZero(
            t, values.subspan(start, count), start,
            absl::StrCat("window slots ", pulse, "..", window - 1,
                         " are not written before pulse id ", pulse));
        if (!s.ok()) return s;
      }
      continue;
    }
    const uint64_t period = static_cast<uint64_t>(config.periods[t.level]);
    if (t.kind == StateKind::kErrorBuffer && pulse % period == 0) {
      absl::Status s = MustBeZero(
          t, values, 0,
          absl::StrCat("at pulse id ", pulse, " level ", t.level, "'s error buffer holds ",
                       pulse, " % ", period, " = 0 tokens"));
      if (!s.ok()) return s;
    }
    if ((t.kind == StateKind::kMemory || t.kind == StateKind::kMomentum) && pulse < period) {
      absl::Status s = MustBeZero(
          t, values, 0,
          absl::StrCat("level ", t.level, " (period ", period,
                       ") has not fired before pulse id ", pulse));
      if (!s.ok()) return s;
    }
    if (t.kind == StateKind::kMomentum && period == 1) {
      absl::Status s = MustBeZero(t, values, 0, "a period-1 level has no momentum");
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace hecate

#include "server/prefill_pacer.h"

#include <algorithm>

namespace hecate {
namespace {

// Weight of the newest sample in the running time averages.
constexpr double kAverageWeight = 0.2;

// Folds `sample`, counted as at most `limit`, into a running average
// (negative: none yet): one step stalled by something else (the engine
// thread preempted) moves an estimate by a bounded amount, while a real
// change still takes over within a few steps.
void Average(double* average, double sample, double limit) {
  sample = std::min(sample, limit);
  *average = *average < 0 ? sample : (1 - kAverageWeight) * *average + kAverageWeight * sample;
}

// The power-of-two bucket of a prefill size: floor(log2(tokens)).
size_t Bucket(size_t tokens) {
  size_t k = 0;
  while (tokens > 1) {
    tokens >>= 1;
    ++k;
  }
  return k;
}

}  // namespace

size_t PrefillPacer::Budget(bool with_decode) {
  ++step_;
  if (!with_decode) return max_step_tokens_;
  // Nothing to measure input against yet: a step of decode work alone first.
  if (decode_step_seconds_ <= 0) return 0;
  // What input adds is measured against the decode step's time; with input
  // always waiting that would never be measured again, and a stale one
  // biases every estimate. One step in kProbeInterval runs decode alone.
  if (step_ - last_decode_alone_step_ >= kProbeInterval) return 0;
  std::vector<double>& extra = prefill_extra_seconds_;
  if (extra.empty()) return 1;  // one token, to measure it
  // The balance keeps one step's allowance past the cap, so that where a
  // token costs more than the allowance, the steps between those with input
  // lose none of it; what one step may carry stays under the cap.
  balance_ = std::min(balance_ + Allowed(), Cap() + Allowed());
  const double fits = std::min(balance_, Cap());
  // The largest measured size that fits. Sizes are measured in order: the
  // next one is tried as soon as the one below fits (so a new upload beside
  // cheap decode work reaches its size in a few steps; only the first size
  // past the cap costs one slow step). A measured size that does not fit
  // now is tried again once in 4 x kProbeInterval steps when it could fit
  // the cap (its estimate may be old; a trial may cost up to twice the cap).
  size_t best = 0;
  const bool may_retry = step_ - last_retry_step_ >= 4 * kProbeInterval;
  for (size_t k = 0; (size_t{1} << k) <= max_slice_tokens_ && k < extra.size(); ++k) {
    if (extra[k] >= 0 && extra[k] <= fits) {
      best = size_t{1} << k;
      continue;
    }
    const bool previous_fits = k == 0 || best == size_t{1} << (k - 1);
    if (previous_fits && (extra[k] < 0 || (may_retry && extra[k] <= 2 * Cap()))) {
      if (extra[k] >= 0) last_retry_step_ = step_;
      return size_t{1} << k;
    }
    if (extra[k] < 0) break;  // nothing known past an unmeasured size
  }
  if (best == size_t{1} << (extra.size() - 1) && (best << 1) <= max_slice_tokens_) {
    extra.push_back(-1);
    return best << 1;
  }
  return best;
}

double PrefillPacer::Allowed() const { return share_ * decode_step_seconds_; }

double PrefillPacer::Cap() const {
  double cheapest = -1;
  for (double e : prefill_extra_seconds_) {
    if (e >= 0 && (cheapest < 0 || e < cheapest)) cheapest = e;
  }
  return std::max(Allowed(), cheapest);
}

void PrefillPacer::Observe(bool with_decode, size_t prefill_tokens, double seconds) {
  if (prefill_tokens == 0) {
    if (with_decode) {
      last_decode_alone_step_ = step_;
      Average(&decode_step_seconds_, seconds,
              decode_step_seconds_ < 0 ? seconds : 2 * decode_step_seconds_);
    }
    return;
  }
  if (!with_decode || decode_step_seconds_ <= 0) return;
  const double extra = std::max(seconds - decode_step_seconds_, 0.0);
  const size_t k = Bucket(prefill_tokens);
  if (k >= prefill_extra_seconds_.size()) prefill_extra_seconds_.resize(k + 1, -1);
  double& estimate = prefill_extra_seconds_[k];
  Average(&estimate, extra, 2 * std::max(estimate, Cap()));
  // The debt is bounded by one step's cap: a step stalled by something else
  // (the machine preempting the engine thread) must not hold input back for
  // dozens of steps.
  balance_ = std::max(balance_ - extra, -Cap());
}

}  // namespace hecate

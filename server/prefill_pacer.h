// PrefillPacer: how many input (prefill) tokens the engine's next step may
// carry beside other sessions' decode work, so that a user streaming input
// slows everyone else's generation by a bounded amount:
//  - on average, input adds at most `share` of a decode step's time to the
//    steps with decode work: a balance is filled by share x (decode step)
//    each such step and drained by each step's measured input time (its
//    time less the decode step's);
//  - one step carries no more input than the larger of share x (decode
//    step) and the cheapest measured size costs (the cap), but for a trial.
// The budget is the largest power of two whose estimated cost fits both.
// Where one input token costs more than the share (two cores, a small
// batch: one more session's state to stream), steps without input come
// between those with it; where it costs less (CUDA: the token rides in the
// batched decode), every step carries the largest size that fits.
// Estimates are running averages of bounded samples, so one step stalled by
// something else cannot lock a size out or in for long. Sizes are measured
// in order, the next as soon as the one below fits (a new upload beside
// cheap decode work reaches its size in a few steps; the first size past
// the cap costs one step up to twice the cap); one measured but not fitting
// is tried again once in 4 x kProbeInterval steps, and once in
// kProbeInterval the decode work runs alone to keep its time current.
// Without decode work the budget is max_step_tokens.
// Not thread-safe: the engine thread's own.
#ifndef HECATE_SERVER_PREFILL_PACER_H_
#define HECATE_SERVER_PREFILL_PACER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hecate {

class PrefillPacer {
 public:
  static constexpr uint64_t kProbeInterval = 256;

  PrefillPacer(double share, size_t max_slice_tokens, size_t max_step_tokens)
      : share_(share), max_slice_tokens_(max_slice_tokens), max_step_tokens_(max_step_tokens) {}

  // Input tokens the next step may carry; 0: none this step (the balance
  // refills first). Call once per step.
  size_t Budget(bool with_decode);
  // What the step that Budget was asked for took, with `prefill_tokens`
  // input tokens in it.
  void Observe(bool with_decode, size_t prefill_tokens, double seconds);

  // Running average of a step with decode work and no input; negative until
  // one was measured.
  double decode_step_seconds() const { return decode_step_seconds_; }
  // Seconds of input time the coming steps may still add.
  double balance_seconds() const { return balance_; }

 private:
  // Input seconds a step may add on average: share x the decode step.
  double Allowed() const;
  // The most one step may add: Allowed, or the cheapest measured size's
  // cost where even that is dearer.
  double Cap() const;

  const double share_;
  const size_t max_slice_tokens_;
  const size_t max_step_tokens_;
  uint64_t step_ = 0;
  uint64_t last_retry_step_ = 0;
  uint64_t last_decode_alone_step_ = 0;
  double decode_step_seconds_ = -1;
  // Running averages of what 2^k input tokens (index k: floor(log2)) added
  // to a step with decode work; negative until measured.
  std::vector<double> prefill_extra_seconds_;
  double balance_ = 0;
};

}  // namespace hecate

#endif  // HECATE_SERVER_PREFILL_PACER_H_

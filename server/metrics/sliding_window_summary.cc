#include "server/metrics/sliding_window_summary.h"

#include <algorithm>
#include <chrono>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/metrics/text_format.h"

namespace hecate::metrics {
namespace {

constexpr int kMantissaBits = 52;
constexpr size_t kMaxMemoryBytes = size_t{16} << 20;

uint64_t BitsOf(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

double FromBits(uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Largest power of two <= value (value normal and positive).
double RoundDownToPowerOfTwo(double value) {
  return std::ldexp(1.0, std::ilogb(value));
}

// Smallest power of two >= value (value normal and positive); may be +Inf.
double RoundUpToPowerOfTwo(double value) {
  const double down = RoundDownToPowerOfTwo(value);
  return down == value ? down : down * 2.0;
}

int64_t SteadyNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

size_t BucketsPerSlot(double lowest, double highest, int shift) {
  return static_cast<size_t>((BitsOf(highest) >> shift) -
                             (BitsOf(lowest) >> shift)) +
         2;
}

}  // namespace

absl::Status SlidingWindowSummary::ValidateOptions(const Options& options) {
  for (size_t i = 0; i < options.quantiles.size(); ++i) {
    const double q = options.quantiles[i];
    if (!(q >= 0.0 && q <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "summary quantile ", i, " is ", FormatDouble(q), "; must be in [0, 1]"));
    }
    if (i > 0 && !(q > options.quantiles[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "summary quantiles must strictly increase: ", FormatDouble(q),
          " follows ", FormatDouble(options.quantiles[i - 1])));
    }
  }
  if (options.slots < 2 || options.slots > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "summary slots must be in [2, 1000], got ", options.slots));
  }
  if (options.window <= absl::ZeroDuration() ||
      options.window == absl::InfiniteDuration() ||
      options.window / options.slots < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "summary window must be finite and give slots of at least 1ms; got ",
        absl::FormatDuration(options.window), " over ", options.slots,
        " slots"));
  }
  if (options.sub_bucket_bits < 1 || options.sub_bucket_bits > 12) {
    return absl::InvalidArgumentError(absl::StrCat(
        "summary sub_bucket_bits must be in [1, 12], got ",
        options.sub_bucket_bits));
  }
  const double lowest = options.lowest_trackable;
  const double highest = options.highest_trackable;
  if (!(lowest >= DBL_MIN) || !std::isfinite(lowest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "summary lowest_trackable must be a finite normal double > 0, got ",
        FormatDouble(lowest)));
  }
  if (!(highest > lowest) || !std::isfinite(RoundUpToPowerOfTwo(highest))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "summary highest_trackable must exceed lowest_trackable (",
        FormatDouble(lowest), ") and round up to a finite power of two; got ",
        FormatDouble(highest)));
  }
  const int shift = kMantissaBits - options.sub_bucket_bits;
  const size_t buckets = BucketsPerSlot(RoundDownToPowerOfTwo(lowest),
                                        RoundUpToPowerOfTwo(highest), shift);
  const size_t bytes = buckets * options.slots * sizeof(uint64_t);
  if (bytes > kMaxMemoryBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "summary would need ", bytes, " bytes of buckets (", buckets,
        " per slot * ", options.slots, " slots); the cap is ", kMaxMemoryBytes,
        ": narrow the trackable range or use fewer sub_bucket_bits or slots"));
  }
  return absl::OkStatus();
}

SlidingWindowSummary::SlidingWindowSummary(const Options& options)
    : quantiles_(options.quantiles),
      clock_nanos_(options.clock_nanos ? options.clock_nanos : SteadyNowNanos),
      sub_bucket_bits_(options.sub_bucket_bits),
      slot_nanos_(absl::ToInt64Nanoseconds(options.window / options.slots)),
      slots_(static_cast<size_t>(options.slots)),
      shift_(kMantissaBits - options.sub_bucket_bits),
      lowest_(RoundDownToPowerOfTwo(options.lowest_trackable)),
      highest_(RoundUpToPowerOfTwo(options.highest_trackable)),
      base_key_(BitsOf(lowest_) >> shift_),
      buckets_per_slot_(BucketsPerSlot(lowest_, highest_, shift_)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(slots_ *
                                                        buckets_per_slot_)) {
  for (size_t i = 0; i < slots_ * buckets_per_slot_; ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
  current_slot_end_nanos_.store(Now() + slot_nanos_, std::memory_order_release);
}

int64_t SlidingWindowSummary::Now() const { return clock_nanos_(); }

size_t SlidingWindowSummary::BucketIndex(double value) const {
  if (value < lowest_) return 0;
  if (value >= highest_) return buckets_per_slot_ - 1;
  // For positive doubles the bits are monotone in the value: the exponent
  // picks the octave and the top mantissa bits the linear sub-bucket.
  return static_cast<size_t>((BitsOf(value) >> shift_) - base_key_) + 1;
}

double SlidingWindowSummary::BucketRepresentative(size_t index) const {
  if (index == 0) return lowest_ / 2.0;
  if (index == buckets_per_slot_ - 1) return HUGE_VAL;
  const uint64_t key = base_key_ + (index - 1);
  const double lower = FromBits(key << shift_);
  const double upper = FromBits((key + 1) << shift_);
  return lower + (upper - lower) / 2.0;
}

void SlidingWindowSummary::AdvanceTo(int64_t now_nanos) const {
  if (now_nanos < current_slot_end_nanos_.load(std::memory_order_acquire)) {
    return;
  }
  std::lock_guard<std::mutex> lock(rotate_mu_);
  const int64_t end = current_slot_end_nanos_.load(std::memory_order_relaxed);
  if (now_nanos < end) return;  // another thread rotated meanwhile
  const int64_t slots_passed = (now_nanos - end) / slot_nanos_ + 1;
  const size_t to_clear =
      static_cast<size_t>(std::min<int64_t>(slots_passed, slots_));
  size_t slot = current_slot_.load(std::memory_order_relaxed);
  for (size_t step = 0; step < to_clear; ++step) {
    slot = (slot + 1) % slots_;
    // The slot is cleared before it is published as current, so writers
    // (which only write to the current slot) do not race the clearing.
    for (size_t bucket = 0; bucket < buckets_per_slot_; ++bucket) {
      Count(slot, bucket).store(0, std::memory_order_relaxed);
    }
  }
  current_slot_.store(slot, std::memory_order_release);
  current_slot_end_nanos_.store(end + slots_passed * slot_nanos_,
                                std::memory_order_release);
}

void SlidingWindowSummary::Observe(double value) {
  if (!(value >= 0.0)) {  // NaN and negatives
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  AdvanceTo(Now());
  const size_t slot = current_slot_.load(std::memory_order_acquire);
  Count(slot, BucketIndex(value)).fetch_add(1, std::memory_order_relaxed);
  sum_.Add(value);
  count_.Add(1.0);
}

SlidingWindowSummary::Snapshot SlidingWindowSummary::TakeSnapshot() const {
  AdvanceTo(Now());
  std::vector<uint64_t> merged(buckets_per_slot_, 0);
  uint64_t total = 0;
  for (size_t slot = 0; slot < slots_; ++slot) {
    for (size_t bucket = 0; bucket < buckets_per_slot_; ++bucket) {
      const uint64_t count =
          Count(slot, bucket).load(std::memory_order_relaxed);
      merged[bucket] += count;
      total += count;
    }
  }
  Snapshot snapshot;
  snapshot.window_count = total;
  snapshot.sum = sum_.Sum();
  snapshot.count = static_cast<uint64_t>(count_.Sum());
  snapshot.quantiles.reserve(quantiles_.size());
  // Quantiles increase, so one walk over the buckets serves them all.
  size_t bucket = 0;
  uint64_t cumulative = merged.empty() ? 0 : merged[0];
  for (const double q : quantiles_) {
    if (total == 0) {
      snapshot.quantiles.emplace_back(q, std::nan(""));
      continue;
    }
    const uint64_t rank = std::clamp<uint64_t>(
        static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))), 1,
        total);
    while (cumulative < rank) cumulative += merged[++bucket];
    snapshot.quantiles.emplace_back(q, BucketRepresentative(bucket));
  }
  return snapshot;
}

double SlidingWindowSummary::relative_error_bound() const {
  return std::ldexp(1.0, -(sub_bucket_bits_ + 1));
}

size_t SlidingWindowSummary::MemoryBytes() const {
  return sizeof(*this) + slots_ * buckets_per_slot_ * sizeof(uint64_t);
}

void SlidingWindowSummary::AppendSamples(absl::string_view name,
                                         absl::string_view labels,
                                         std::string* out) const {
  const Snapshot snapshot = TakeSnapshot();
  for (const auto& [q, value] : snapshot.quantiles) {
    AppendSampleLine(name, "", labels,
                     absl::StrCat("quantile=\"", FormatDouble(q), "\""), value,
                     out);
  }
  AppendSampleLine(name, "_sum", labels, "", snapshot.sum, out);
  AppendSampleLine(name, "_count", labels, "",
                   static_cast<double>(snapshot.count), out);
}

}  // namespace hecate::metrics

// parity_util.h: comparisons for kernel parity tests whose failure message
// says which tensor failed, where, and by how much.
//
//   EXPECT_TRUE(NormwiseNear("y level 2", got, want, 1e-4));
//   EXPECT_TRUE(BitwiseEqual("guard of session 3", got_span, original_span));
//   DeviceBuffer<float> out = Poisoned(n);   // NaN until written
//   std::vector<float> host = ToHost(out);
//
// NormwiseNear is docs/MODEL.md section 6's relative error (RelativeError in
// cuda_test_util.h, NaN never passes); on failure it also names the worst
// element and the first non-finite one. BitwiseEqual compares bit patterns,
// so NaN-poisoned memory that must stay untouched compares equal to itself.
#ifndef HECATE_KERNELS_TESTING_PARITY_UTIL_H_
#define HECATE_KERNELS_TESTING_PARITY_UTIL_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace testing {

inline std::vector<double> ToDouble(absl::Span<const float> x) {
  return std::vector<double>(x.begin(), x.end());
}

inline std::vector<float> ToFloat(absl::Span<const double> x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i]);
  return out;
}

// Norm-wise relative error below `tol`; prints the error either way so a
// passing run still shows the margin.
template <typename A, typename B>
::testing::AssertionResult NormwiseNear(const std::string& what, absl::Span<const A> got,
                                        absl::Span<const B> want, double tol) {
  const double err = RelativeError(got, want);
  if (err < tol) {
    std::printf("  %-40s rel err %.3g\n", what.c_str(), err);
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  result << what << ": relative error " << err << " (tolerance " << tol << ")";
  if (got.size() != want.size()) {
    return result << "; sizes differ: got " << got.size() << ", want " << want.size();
  }
  size_t worst = 0, first_bad = got.size();
  double worst_diff = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (!std::isfinite(g) || !std::isfinite(w)) {
      if (first_bad == got.size()) first_bad = i;
      continue;
    }
    if (std::fabs(g - w) > worst_diff) {
      worst_diff = std::fabs(g - w);
      worst = i;
    }
  }
  if (first_bad < got.size()) {
    result << "; first non-finite at [" << first_bad << "]: got " << double(got[first_bad])
           << ", want " << double(want[first_bad]);
  }
  if (worst_diff >= 0) {
    result << "; largest difference at [" << worst << "]: got " << double(got[worst])
           << ", want " << double(want[worst]) << " (|diff| " << worst_diff << ")";
  }
  return result;
}

template <typename A, typename B>
::testing::AssertionResult NormwiseNear(const std::string& what, const std::vector<A>& got,
                                        const std::vector<B>& want, double tol) {
  return NormwiseNear(what, absl::MakeConstSpan(got), absl::MakeConstSpan(want), tol);
}

// Same bit patterns everywhere (NaN poison included); names the first
// differing index and how many differ.
inline ::testing::AssertionResult BitwiseEqual(const std::string& what,
                                               absl::Span<const float> got,
                                               absl::Span<const float> want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << what << ": sizes differ: got " << got.size() << ", want " << want.size();
  }
  size_t first = got.size(), count = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      if (first == got.size()) first = i;
      ++count;
    }
  }
  if (count == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": " << count << " of " << got.size() << " values differ; first at ["
         << first << "]: got " << got[first] << ", want " << want[first];
}

inline ::testing::AssertionResult BitwiseEqual(const std::string& what,
                                               const std::vector<float>& got,
                                               const std::vector<float>& want) {
  return BitwiseEqual(what, absl::MakeConstSpan(got), absl::MakeConstSpan(want));
}

// True when every value of `x` still has the 0xFF poison pattern of
// DeviceBuffer::Fill(0xFF): nothing was written there.
inline ::testing::AssertionResult StillPoisoned(const std::string& what,
                                                absl::Span<const float> x) {
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], sizeof(bits));
    if (bits != 0xFFFFFFFFu) {
      return ::testing::AssertionFailure()
             << what << ": written at [" << i << "] (value " << x[i]
             << "), which must stay untouched";
    }
  }
  return ::testing::AssertionSuccess();
}

// Float bits of the 0xFF poison (a quiet NaN), for host-side expectations.
inline float PoisonValue() {
  const uint32_t bits = 0xFFFFFFFFu;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Device copies for tests: failures are reported through gtest (the caller
// checks HasFailure()), so test bodies stay free of status plumbing.
template <typename T>
DeviceBuffer<T> ToDevice(const std::vector<T>& host) {
  absl::StatusOr<DeviceBuffer<T>> buf = DeviceBuffer<T>::Create(host.size());
  EXPECT_TRUE(buf.ok()) << buf.status();
  if (!buf.ok()) return DeviceBuffer<T>();
  const absl::Status copied = buf->CopyFromHost(absl::MakeConstSpan(host));
  EXPECT_TRUE(copied.ok()) << copied;
  return *std::move(buf);
}

template <typename T>
std::vector<T> ToHost(const DeviceBuffer<T>& buf) {
  std::vector<T> host(buf.size());
  const absl::Status copied = buf.CopyToHost(absl::MakeSpan(host));
  EXPECT_TRUE(copied.ok()) << copied;
  return host;
}

// `n` floats, every byte 0xFF (NaN): an output that is never written fails
// any comparison, and memory that must stay untouched keeps the pattern.
inline DeviceBuffer<float> Poisoned(size_t n) {
  absl::StatusOr<DeviceBuffer<float>> buf = DeviceBuffer<float>::Create(n);
  EXPECT_TRUE(buf.ok()) << buf.status();
  if (!buf.ok()) return DeviceBuffer<float>();
  const absl::Status filled = buf->Fill(0xFF);
  EXPECT_TRUE(filled.ok()) << filled;
  return *std::move(buf);
}

}  // namespace testing
}  // namespace hecate

#endif  // HECATE_KERNELS_TESTING_PARITY_UTIL_H_

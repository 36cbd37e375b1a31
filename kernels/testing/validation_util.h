// validation_util.h: checks that a kernel launcher rejects bad parameters.
//
//   ExpectEditsRejected<SwaPrefillParams>(
//       good, [](const SwaPrefillParams& p) { return SwaPrefill(p, nullptr); },
//       {{"batch 0", [](SwaPrefillParams& p) { p.batch = 0; }},
//        {"null out", [](SwaPrefillParams& p) { p.out = nullptr; }}});
//
// Each edit is applied to its own copy of `good`; the launcher must return
// INVALID_ARGUMENT for every one (the failure names the edit and the status
// it got). Launchers validate before touching the device, so these checks
// run without a GPU.
#ifndef HECATE_KERNELS_TESTING_VALIDATION_UTIL_H_
#define HECATE_KERNELS_TESTING_VALIDATION_UTIL_H_

#include <initializer_list>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace hecate {
namespace testing {

template <typename Params>
struct ParamsEdit {
  const char* what;
  void (*apply)(Params&);
};

template <typename Params, typename Launch>
void ExpectEditsRejected(const Params& good, Launch launch,
                         std::initializer_list<ParamsEdit<Params>> edits) {
  for (const ParamsEdit<Params>& edit : edits) {
    Params p = good;
    edit.apply(p);
    const absl::Status s = launch(p);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << edit.what << ": " << s;
  }
}

}  // namespace testing
}  // namespace hecate

#endif  // HECATE_KERNELS_TESTING_VALIDATION_UTIL_H_

#include "client/resume_plan.h"

#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(ResumeOffsetTest, TheBytesAlreadyAppliedAreSkipped) {
  EXPECT_EQ(*ResumeOffset(100, 50, 100), 0u);
  EXPECT_EQ(*ResumeOffset(100, 50, 120), 20u);
  EXPECT_EQ(*ResumeOffset(100, 50, 150), 50u);
  EXPECT_EQ(*ResumeOffset(0, 0, 0), 0u);
}

TEST(ResumeOffsetTest, ASessionOutsideTheTextIsRefused) {
  EXPECT_EQ(ResumeOffset(100, 50, 99).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::Status past = ResumeOffset(100, 50, 151).status();
  EXPECT_EQ(past.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(past.message().find("151"), std::string::npos) << past;
  // No overflow near the top of the range.
  EXPECT_EQ(*ResumeOffset(UINT64_MAX - 5, 5, UINT64_MAX), 5u);
  EXPECT_FALSE(ResumeOffset(UINT64_MAX - 5, 4, UINT64_MAX).ok());
}

}  // namespace
}  // namespace hecate

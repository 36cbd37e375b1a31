#include "base/status_macros.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

int calls = 0;

absl::Status Fails() {
  ++calls;
  return absl::DataLossError("torn");
}
absl::Status Succeeds() {
  ++calls;
  return absl::OkStatus();
}
absl::StatusOr<std::unique_ptr<std::string>> Text(bool ok) {
  ++calls;
  if (!ok) return absl::NotFoundError("no text");
  return std::make_unique<std::string>("hecate");
}

absl::Status ReturnIfError(bool fail, bool* reached_end) {
  HECATE_RETURN_IF_ERROR(Succeeds());
  HECATE_RETURN_IF_ERROR(fail ? Fails() : Succeeds());
  *reached_end = true;
  return absl::OkStatus();
}

absl::StatusOr<size_t> AssignOrReturn(bool ok) {
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<std::string> text, Text(ok));  // move-only
  std::string copy;
  HECATE_ASSIGN_OR_RETURN(copy, absl::StatusOr<std::string>(*text + "!"));
  return copy.size();
}

TEST(StatusMacrosTest, ReturnIfErrorReturnsTheFirstErrorAndEvaluatesOnce) {
  bool reached = false;
  calls = 0;
  EXPECT_TRUE(ReturnIfError(false, &reached).ok());
  EXPECT_TRUE(reached);
  EXPECT_EQ(calls, 2);
  reached = false;
  calls = 0;
  const absl::Status s = ReturnIfError(true, &reached);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_FALSE(reached);
  EXPECT_EQ(calls, 2);
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheStatus) {
  calls = 0;
  absl::StatusOr<size_t> got = AssignOrReturn(true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 7u);
  EXPECT_EQ(calls, 1);
  got = AssignOrReturn(false);
  EXPECT_TRUE(absl::IsNotFound(got.status())) << got.status();
}

}  // namespace
}  // namespace hecate

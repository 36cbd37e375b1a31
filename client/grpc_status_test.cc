#include "client/grpc_status.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string RandomMessage(std::mt19937_64& random) {
  std::uniform_int_distribution<int> length(1, 40);
  std::uniform_int_distribution<int> byte(32, 126);
  std::string message(length(random), ' ');
  for (char& c : message) c = static_cast<char>(byte(random));
  return message;
}

TEST(FromGrpcStatusTest, KeepsEveryCodeAndTheMessage) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  for (int code = 1; code <= 16; ++code) {
    const std::string message = RandomMessage(random);
    absl::Status status = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(code), message));
    EXPECT_EQ(static_cast<int>(status.code()), code);
    EXPECT_EQ(status.message(), message);
  }
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(FromGrpcStatusTest, NotFoundReadsAsNotFound) {
  absl::Status status = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no session"));
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_EQ(absl::StatusCodeToString(status.code()), "NOT_FOUND");
}

TEST(FromRequestErrorTest, MapsCanonicalCodes) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  for (int code = 1; code <= 16; ++code) {
    v1::RequestError error;
    error.set_code(code);
    error.set_message(RandomMessage(random));
    absl::Status status = FromRequestError(error);
    EXPECT_EQ(static_cast<int>(status.code()), code);
    EXPECT_EQ(status.message(), error.message());
  }
}

TEST(FromRequestErrorTest, NeverOkAndOutOfRangeCodesAreUnknown) {
  for (int code : {0, -1, 17, 1000}) {
    v1::RequestError error;
    error.set_code(code);
    error.set_message("odd");
    absl::Status status = FromRequestError(error);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnknown) << code;
    EXPECT_EQ(status.message(), "odd");
  }
}

TEST(CurrentPulseIdTest, ComesFromARequestErrorThatCarriesIt) {
  v1::RequestError error;
  error.set_code(9);  // FAILED_PRECONDITION
  error.set_message("session is at pulse id 42");
  EXPECT_FALSE(CurrentPulseId(FromRequestError(error)).has_value());
  error.set_current_pulse_id(42);
  absl::Status status = FromRequestError(error);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "session is at pulse id 42");
  EXPECT_EQ(CurrentPulseId(status), std::optional<uint64_t>(42));
  error.set_current_pulse_id(0);  // present and zero is still a pulse id
  EXPECT_EQ(CurrentPulseId(FromRequestError(error)), std::optional<uint64_t>(0));
  absl::Status ok;
  SetCurrentPulseId(ok, 7);
  EXPECT_FALSE(CurrentPulseId(ok).has_value());
}

}  // namespace
}  // namespace hecate

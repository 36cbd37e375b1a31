#include "client/ctl/usage_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace hecate {
namespace {

constexpr absl::string_view kUsagePayload = "type.hecate.dev/hecatectl.UsageError";

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

absl::Status ExpectArguments(absl::string_view verb, absl::Span<const std::string> args,
                             size_t min, size_t max, absl::string_view usage) {
  if (args.size() >= min && args.size() <= max) return absl::OkStatus();
  return UsageError(absl::StrCat("usage: hecatectl ", verb, usage.empty() ? "" : " ", usage,
                                 " (got ", args.size(), " argument", args.size() == 1 ? "" : "s",
                                 ")"));
}

}  // namespace hecate

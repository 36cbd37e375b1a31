#include "client/ctl/argument_values.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/ctl/usage_error.h"

namespace hecate {
namespace {

constexpr int64_t kMaxChunkBytes = int64_t{1} << 30;

}  // namespace

absl::StatusOr<size_t> ChunkBytesValue(int64_t flag_value) {
  if (flag_value < 1 || flag_value > kMaxChunkBytes) {
    return UsageError(
        absl::StrCat("--chunk_bytes must be in 1..", kMaxChunkBytes, ", got ", flag_value));
  }
  return static_cast<size_t>(flag_value);
}

absl::StatusOr<std::string> StopBytesValue(absl::string_view flag_value) {
  std::string bytes;
  std::string error;
  if (!absl::CUnescape(flag_value, &bytes, &error)) {
    return UsageError(absl::StrCat("--stop: cannot unescape '", flag_value, "': ", error));
  }
  return bytes;
}

absl::StatusOr<absl::optional<uint64_t>> ExpectedPulseValue(absl::string_view flag_value,
                                                             absl::string_view flag_name) {
  if (flag_value.empty()) return absl::optional<uint64_t>();
  uint64_t pulse = 0;
  if (flag_value[0] == '+' || flag_value[0] == '-' || !absl::SimpleAtoi(flag_value, &pulse)) {
    return UsageError(absl::StrCat("--", flag_name, " must be a pulse id (0..2^64-1), got '",
                                   flag_value, "'"));
  }
  return absl::optional<uint64_t>(pulse);
}

absl::StatusOr<std::vector<std::string>> StopSequencesValue(absl::string_view flag_value) {
  std::vector<std::string> sequences;
  if (flag_value.empty()) return sequences;
  for (absl::string_view part : absl::StrSplit(flag_value, ',')) {
    std::string bytes;
    std::string error;
    if (!absl::CUnescape(part, &bytes, &error)) {
      return UsageError(
          absl::StrCat("--stop_sequences: cannot unescape '", part, "': ", error));
    }
    if (bytes.empty()) {
      return UsageError(absl::StrCat("--stop_sequences: empty sequence in '", flag_value,
                                     "' (a comma inside a sequence is \\054)"));
    }
    sequences.push_back(std::move(bytes));
  }
  return sequences;
}

absl::Status ValidateTimeout(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) {
    return UsageError(absl::StrCat("--timeout must be > 0 (or inf for none), got ",
                                   absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

}  // namespace hecate

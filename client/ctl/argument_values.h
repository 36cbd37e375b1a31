// Turning hecatectl flag and argument text into request values, with a usage
// error naming the flag for anything that cannot be right whatever the server
// says. Range checks that depend on the server's limits stay on the server,
// which names its limit.
#ifndef HECATE_CLIENT_CTL_ARGUMENT_VALUES_H_
#define HECATE_CLIENT_CTL_ARGUMENT_VALUES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace hecate {

// --chunk_bytes: 1..1 GiB.
absl::StatusOr<size_t> ChunkBytesValue(int64_t flag_value);

// --stop: C escapes ("\n", "\x00", "\\") become the bytes they name; "" is no
// stop bytes.
absl::StatusOr<std::string> StopBytesValue(absl::string_view flag_value);

// --expect_pulse (or `flag_name`, e.g. expected_pulse_id): "" is unset;
// otherwise a decimal uint64.
absl::StatusOr<absl::optional<uint64_t>> ExpectedPulseValue(
    absl::string_view flag_value, absl::string_view flag_name = "expect_pulse");

// --stop_sequences: comma-separated sequences, each with C escapes (a comma
// inside one is \054); "" is none; an empty sequence is a usage error.
absl::StatusOr<std::vector<std::string>> StopSequencesValue(absl::string_view flag_value);

// --timeout: > 0, or infinite for no deadline.
absl::Status ValidateTimeout(absl::Duration timeout);

}  // namespace hecate

#endif  // HECATE_CLIENT_CTL_ARGUMENT_VALUES_H_

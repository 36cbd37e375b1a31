// Usage errors: mistakes on hecatectl's command line, as opposed to calls the
// server refused. Both are statuses; hecatectl exits 2 for the first kind
// and 1 for the second.
#ifndef HECATE_CLIENT_CTL_USAGE_ERROR_H_
#define HECATE_CLIENT_CTL_USAGE_ERROR_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hecate {

// INVALID_ARGUMENT marked (by a status payload) as a command-line mistake.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// A usage error ("usage: hecatectl get ID (got 0 arguments)") unless `args`
// has between `min` and `max` entries.
absl::Status ExpectArguments(absl::string_view verb, absl::Span<const std::string> args,
                             size_t min, size_t max, absl::string_view usage);

}  // namespace hecate

#endif  // HECATE_CLIENT_CTL_USAGE_ERROR_H_

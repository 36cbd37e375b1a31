// Command-line parsing for hecatectl: `hecatectl [flags] VERB [args] [flags]`.
//
// Flags are ordinary absl flags, but parsed here instead of by
// absl::ParseCommandLine so that every mistake becomes a status (hecatectl
// turns it into exit code 2 with one line on stderr) instead of an exit(1)
// inside absl. Accepted forms: --name=value, --name value, -name=value,
// --bool_flag, --nobool_flag; "--" ends the flags; "-" alone is an argument
// (stdin). Flags and arguments may be interleaved.
#ifndef HECATE_CLIENT_CTL_COMMAND_LINE_H_
#define HECATE_CLIENT_CTL_COMMAND_LINE_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hecate {

struct CommandLine {
  // The non-flag arguments in order: the verb, then its arguments.
  std::vector<std::string> arguments;
  // Names of the flags given explicitly (to tell "--api_key=" from absent).
  std::set<std::string> flags_given;
  // --help, -h or --helpfull was given.
  bool help = false;
};

// Parses `args` (argv without argv[0]) and sets the named flags. On error no
// later flag is set and the status (INVALID_ARGUMENT) names the flag:
// unknown flag, missing value, or a value its type cannot hold.
absl::StatusOr<CommandLine> ParseCommandLine(absl::Span<const std::string> args);

// One line per flag defined in a file whose path contains `path_part`:
// "  --name=<default>  help", sorted by name. `names` non-empty restricts it
// to those flags, in that order.
std::string DescribeFlags(absl::string_view path_part, const std::vector<std::string>& names);

// Fills `text` into lines of at most `width` columns (a longer word gets a
// line of its own); every line after the first starts with `indent` spaces.
// No trailing newline.
std::string WrapWords(absl::string_view text, size_t width, size_t indent);

}  // namespace hecate

#endif  // HECATE_CLIENT_CTL_COMMAND_LINE_H_

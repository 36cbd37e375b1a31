#include "client/ctl/command_line.h"

#include <algorithm>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"

namespace hecate {
namespace {

struct PendingFlag {
  absl::CommandLineFlag* flag;
  std::string value;
};

bool IsHelpFlag(absl::string_view name) {
  return name == "help" || name == "h" || name == "helpfull";
}

// Looks up `name`, or for "--noX" the boolean flag X (value "false").
absl::StatusOr<PendingFlag> ResolveFlag(absl::string_view name, bool has_value,
                                        absl::string_view value) {
  if (absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name); flag != nullptr) {
    if (!has_value && flag->IsOfType<bool>()) return PendingFlag{flag, "true"};
    return PendingFlag{flag, std::string(value)};
  }
  if (absl::StartsWith(name, "no")) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name.substr(2));
    if (flag != nullptr && flag->IsOfType<bool>()) {
      if (has_value) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value (use --", name.substr(2), "=false)"));
      }
      return PendingFlag{flag, "false"};
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(absl::Span<const std::string> args) {
  CommandLine command_line;
  std::vector<PendingFlag> pending;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      command_line.arguments.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    const size_t equals = arg.find('=');
    const bool has_value = equals != absl::string_view::npos;
    absl::string_view name = arg.substr(0, equals);
    absl::string_view value = has_value ? arg.substr(equals + 1) : absl::string_view();
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("malformed flag ", args[i]));
    if (IsHelpFlag(name)) {
      command_line.help = true;
      continue;
    }
    HECATE_ASSIGN_OR_RETURN(PendingFlag resolved, ResolveFlag(name, has_value, value));
    if (!has_value && !resolved.flag->IsOfType<bool>()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      resolved.value = args[++i];
    }
    pending.push_back(std::move(resolved));
  }
  // Check every value before setting any, so a bad command line changes nothing.
  for (const PendingFlag& flag : pending) {
    std::string saved = flag.flag->CurrentValue();
    std::string error;
    if (!flag.flag->ParseFrom(flag.value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value '", flag.value, "' for --", flag.flag->Name(), ": ", error));
    }
    std::string ignored;
    flag.flag->ParseFrom(saved, &ignored);
  }
  for (const PendingFlag& flag : pending) {
    std::string error;
    flag.flag->ParseFrom(flag.value, &error);
    command_line.flags_given.insert(std::string(flag.flag->Name()));
  }
  return command_line;
}

std::string DescribeFlags(absl::string_view path_part, const std::vector<std::string>& names) {
  std::vector<absl::CommandLineFlag*> flags;
  if (names.empty()) {
    for (const auto& [name, flag] : absl::GetAllFlags()) {
      if (absl::StrContains(flag->Filename(), path_part)) flags.push_back(flag);
    }
    std::sort(flags.begin(), flags.end(),
              [](absl::CommandLineFlag* a, absl::CommandLineFlag* b) {
                return a->Name() < b->Name();
              });
  } else {
    for (const std::string& name : names) {
      if (absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name); flag != nullptr) {
        flags.push_back(flag);
      }
    }
  }
  std::string out;
  for (absl::CommandLineFlag* flag : flags) {
    std::string spec = absl::StrCat("--", flag->Name(), "=", flag->DefaultValue());
    if (flag->DefaultValue().empty()) absl::StrAppend(&spec, "\"\"");
    constexpr size_t kColumn = 26;
    constexpr size_t kWidth = 100;
    absl::StrAppend(&out, "  ", spec);
    if (spec.size() < kColumn) {
      out.append(kColumn - spec.size(), ' ');
    } else {
      absl::StrAppend(&out, "\n  ", std::string(kColumn, ' '));
    }
    absl::StrAppend(&out, "  ", WrapWords(flag->Help(), kWidth - kColumn - 4, kColumn + 4), "\n");
  }
  return out;
}

std::string WrapWords(absl::string_view text, size_t width, size_t indent) {
  std::string out;
  size_t line_length = 0;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line_length > 0 && line_length + 1 + word.size() > width) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      line_length = 0;
    } else if (line_length > 0) {
      out.push_back(' ');
      ++line_length;
    }
    absl::StrAppend(&out, word);
    line_length += word.size();
  }
  return out;
}

}  // namespace hecate

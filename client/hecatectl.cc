// hecatectl: the command-line client of hecated.
//
//   hecatectl [global flags] VERB [arguments] [flags]
//
// Exit codes: 0 success; 1 a call failed ("hecatectl: CODE: message" on
// stderr); 2 the command line is wrong.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/command_line.h"
#include "client/ctl/verb.h"
#include "client/hecate_client.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "HOST:PORT of hecated's gRPC port");
ABSL_FLAG(std::string, api_key, "",
          "API key, sent as `authorization: Bearer KEY` (default: $HECATE_API_KEY)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of root certificates: connect with TLS and verify the server against "
          "them (default: plaintext)");
ABSL_FLAG(bool, json, false, "print JSON for scripts instead of text for people");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "deadline of each call, e.g. 10s or 2m (generate included; stream and bench "
          "streams have none); inf for none");

namespace hecate {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::string HelpText() {
  std::string text =
      "hecatectl: the command-line client of hecated (hecate.v1 over gRPC).\n"
      "\n"
      "usage: hecatectl [flags] VERB [arguments] [flags]\n"
      "\n"
      "verbs:\n";
  for (const Verb& verb : AllVerbs()) {
    std::string head = absl::StrCat(verb.name, *verb.arguments ? " " : "", verb.arguments);
    absl::StrAppend(&text, "  ", head, std::string(head.size() < 22 ? 22 - head.size() : 1, ' '),
                    WrapWords(verb.summary, 76, 24), "\n");
    if (!verb.flags.empty()) {
      absl::StrAppend(&text, std::string(24, ' '), "flags:");
      for (const std::string& flag : verb.flags) absl::StrAppend(&text, " --", flag);
      absl::StrAppend(&text, "\n");
    }
  }
  absl::StrAppend(&text, "\nglobal flags:\n", DescribeFlags("client/hecatectl.cc", {}),
                  "\nverb flags:\n", DescribeFlags("client/ctl/", {}),
                  "\nexit codes: 0 ok; 1 a call failed (\"hecatectl: CODE: message\" on stderr); "
                  "2 usage error.\n"
                  "See client/README.md for an example session.\n");
  return text;
}

int UsageFailure(absl::string_view message) {
  std::cerr << "hecatectl: " << message << "\nrun 'hecatectl --help' for usage\n";
  return kExitUsage;
}

int Main(int argc, char** argv) {
  // As hecated does (server/main.cc): Debian's abseil leaves absl::Mutex's
  // deadlock detection on, a global lock graph updated on every lock
  // (1.35% of `hecatectl bench`'s CPU at 64 generating sessions).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<CommandLine> command_line = ParseCommandLine(args);
  if (!command_line.ok()) return UsageFailure(command_line.status().message());
  if (command_line->help ||
      (!command_line->arguments.empty() && command_line->arguments[0] == "help")) {
    std::cout << HelpText();
    return 0;
  }
  if (command_line->arguments.empty()) return UsageFailure("no verb given");
  const std::string& verb_name = command_line->arguments[0];
  const Verb* verb = nullptr;
  for (const Verb& candidate : AllVerbs()) {
    if (verb_name == candidate.name) verb = &candidate;
  }
  if (verb == nullptr) return UsageFailure(absl::StrCat("unknown verb '", verb_name, "'"));

  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.api_key = absl::GetFlag(FLAGS_api_key);
  if (command_line->flags_given.count("api_key") == 0) {
    if (const char* key = std::getenv("HECATE_API_KEY"); key != nullptr) options.api_key = key;
  }
  options.tls_root_cert_path = absl::GetFlag(FLAGS_tls_ca);
  options.deadline = absl::GetFlag(FLAGS_timeout);
  if (absl::Status status = ValidateTimeout(options.deadline); !status.ok()) {
    return UsageFailure(status.message());
  }
  absl::StatusOr<std::unique_ptr<HecateClient>> client = HecateClient::Connect(options);
  if (!client.ok()) {
    std::cerr << "hecatectl: " << absl::StatusCodeToString(client.status().code()) << ": "
              << client.status().message() << "\n";
    return kExitFailure;
  }

  VerbContext context{client->get(), absl::GetFlag(FLAGS_json), &std::cout, &std::cerr,
                      &command_line->flags_given};
  const std::vector<std::string> verb_args(command_line->arguments.begin() + 1,
                                           command_line->arguments.end());
  absl::Status status = verb->run(context, verb_args);
  std::cout.flush();
  if (status.ok()) return 0;
  if (IsUsageError(status)) return UsageFailure(status.message());
  std::cerr << "hecatectl: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kExitFailure;
}

}  // namespace
}  // namespace hecate

int main(int argc, char** argv) { return hecate::Main(argc, argv); }

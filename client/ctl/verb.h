// The verbs of hecatectl and what they share: the client, the output mode,
// and the convention for usage errors.
//
// A verb is a function from (context, arguments after the verb) to a status.
// Results go to `context.out`, human-readable or, with --json, as JSON.
// A failed call returns the server's status unchanged (hecatectl prints
// "hecatectl: CODE: message" and exits 1); a mistake on the command line
// returns UsageError(...) (client/ctl/usage_error.h; exit 2).
#ifndef HECATE_CLIENT_CTL_VERB_H_
#define HECATE_CLIENT_CTL_VERB_H_

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/ctl/usage_error.h"
#include "client/hecate_client.h"

namespace hecate {

struct VerbContext {
  HecateClient* client;
  bool json;
  std::ostream* out;
  // Progress and side notes that must not mix into `out` (e.g. generate's
  // summary line after the generated text).
  std::ostream* err;
  // Flags given on the command line (a verb whose default differs from a
  // shared flag's, like eval's --chunk_bytes, tells "given" from "default").
  const std::set<std::string>* flags_given = nullptr;
};

using VerbFunction = absl::Status (*)(VerbContext& context, absl::Span<const std::string> args);

struct Verb {
  const char* name;
  const char* arguments;  // "ID [FILE|-]"
  const char* summary;
  std::vector<std::string> flags;  // flags this verb reads, besides the global ones
  VerbFunction run;
};

// Every verb, in the order --help lists them.
const std::vector<Verb>& AllVerbs();

// The verbs, one function each (defined in the *_verbs.cc files).
absl::Status RunCreate(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunList(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunGet(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunDelete(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunInfo(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunPin(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunUnpin(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunUpdate(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunStream(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunEval(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunGenerate(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunCheckpoint(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunRestore(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunCheckpoints(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunDeleteCheckpoint(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunBench(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunFork(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunRewind(VerbContext& context, absl::Span<const std::string> args);
absl::Status RunTranscript(VerbContext& context, absl::Span<const std::string> args);

}  // namespace hecate

#endif  // HECATE_CLIENT_CTL_VERB_H_

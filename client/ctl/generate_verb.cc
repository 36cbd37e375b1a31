// hecatectl generate [ID] --prompt=TEXT: a sampled continuation, streamed.
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/output.h"
#include "client/ctl/shared_flags.h"
#include "client/ctl/verb.h"

ABSL_FLAG(std::string, prompt, "", "generate: text fed to the session before sampling");
ABSL_FLAG(int32_t, max_tokens, 64, "generate: most tokens (bytes) to generate");
ABSL_FLAG(double, temperature, 1.0, "generate: sampling temperature (0: greedy)");
ABSL_FLAG(double, top_p, 0.0, "generate: nucleus sampling cut in (0, 1] (0 or 1: no cut)");
ABSL_FLAG(std::string, stop, "",
          "generate: stop after any of these bytes (C escapes allowed, e.g. --stop='\\n.')");
ABSL_FLAG(std::string, stop_sequences, "",
          "generate: stop once the continuation ends with any of these comma-separated "
          "sequences (C escapes; a comma is \\054), e.g. --stop_sequences='\\n\\n,THE END'; "
          "the sequence is printed and applied");
ABSL_FLAG(int32_t, alternatives, 0,
          "generate: with --json, each token's N most likely alternatives with log-probs "
          "(0..20)");

namespace hecate {

absl::Status RunGenerate(VerbContext& context, absl::Span<const std::string> args) {
  if (absl::Status status = ExpectArguments("generate", args, 0, 1, "[ID]"); !status.ok()) {
    return status;
  }
  HECATE_ASSIGN_OR_RETURN(std::string stop, StopBytesValue(absl::GetFlag(FLAGS_stop)));
  HECATE_ASSIGN_OR_RETURN(std::vector<std::string> stop_sequences,
                          StopSequencesValue(absl::GetFlag(FLAGS_stop_sequences)));
  HECATE_ASSIGN_OR_RETURN(
      absl::optional<uint64_t> expected,
      ExpectedPulseValue(absl::GetFlag(FLAGS_expected_pulse_id), "expected_pulse_id"));
  v1::GenerateRequest request;
  if (!args.empty()) request.set_session_id(args[0]);
  request.set_prompt(absl::GetFlag(FLAGS_prompt));
  v1::SamplingParams* sampling = request.mutable_sampling();
  sampling->set_temperature(static_cast<float>(absl::GetFlag(FLAGS_temperature)));
  sampling->set_top_k(absl::GetFlag(FLAGS_top_k));
  sampling->set_top_p(static_cast<float>(absl::GetFlag(FLAGS_top_p)));
  sampling->set_seed(absl::GetFlag(FLAGS_seed));
  sampling->set_max_tokens(absl::GetFlag(FLAGS_max_tokens));
  sampling->set_stop_bytes(stop);
  for (std::string& s : stop_sequences) sampling->add_stop_sequences(std::move(s));
  sampling->set_top_k_alternatives(absl::GetFlag(FLAGS_alternatives));
  if (expected.has_value()) request.set_expected_pulse_id(*expected);

  std::string text;
  std::vector<uint32_t> tokens;
  nlohmann::json alternatives = nlohmann::json::array();
  auto on_token = [&](const v1::GeneratedToken& token, uint64_t) {
    tokens.push_back(token.token());
    if (token.alternatives_size() > 0) alternatives.push_back(TopKToJson(token.alternatives()));
    const char byte = static_cast<char>(token.token());
    text.push_back(byte);
    if (!context.json) {
      context.out->put(byte);
      context.out->flush();
    }
  };
  absl::StatusOr<GenerateResult> result = context.client->Generate(request, on_token);
  if (!context.json && !text.empty() && text.back() != '\n') *context.out << "\n";
  if (!result.ok()) return result.status();

  const std::string session =
      request.session_id().empty() ? "temporary session" : absl::StrCat("session ", args[0]);
  if (context.json) {
    *context.out << DumpJson(nlohmann::json{
                        {"session_id", request.session_id()},
                        {"text", text},
                        {"tokens", tokens},
                        {"generated_tokens", result->done.generated_tokens()},
                        {"finish_reason", FinishReasonName(result->done.finish_reason())},
                        {"pulse_id", result->pulse_id},
                        {"forward_seconds", result->done.forward_seconds()},
                        {"alternatives", alternatives},
                    })
                 << "\n";
  } else {
    context.out->flush();
    *context.err << "[" << result->done.generated_tokens() << " tokens, "
                 << FinishReasonName(result->done.finish_reason()) << "; " << session
                 << " at pulse " << result->pulse_id << "]\n";
  }
  return absl::OkStatus();
}

}  // namespace hecate

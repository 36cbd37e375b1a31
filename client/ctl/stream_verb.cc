// hecatectl stream ID [FILE|-]: a file or stdin through one Stream call.
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/chunker.h"
#include "client/ctl/argument_values.h"
#include "client/ctl/input_file.h"
#include "client/ctl/output.h"
#include "client/ctl/shared_flags.h"
#include "client/ctl/verb.h"

namespace hecate {
namespace {

void PrintChunkResult(VerbContext& context, int chunk_number, size_t bytes,
                      const v1::StreamResponse& response) {
  const v1::ChunkDone& done = response.done();
  if (context.json) {
    nlohmann::json line{
        {"chunk", chunk_number},
        {"request_id", response.request_id()},
        {"bytes", bytes},
        {"pulse_id", response.pulse_id()},
        {"forward_seconds", done.forward_seconds()},
    };
    if (done.top_k_size() > 0) line["top_k"] = TopKToJson(done.top_k());
    *context.out << DumpJson(line) << "\n";
  } else {
    *context.out << "chunk " << chunk_number << ": " << bytes << " bytes, pulse "
                 << response.pulse_id();
    if (done.top_k_size() > 0) *context.out << ", next: " << FormatTopK(done.top_k());
    *context.out << "\n";
  }
  context.out->flush();
}

}  // namespace

absl::Status RunStream(VerbContext& context, absl::Span<const std::string> args) {
  if (absl::Status status = ExpectArguments("stream", args, 1, 2, "ID [FILE|-]"); !status.ok()) {
    return status;
  }
  HECATE_ASSIGN_OR_RETURN(size_t chunk_bytes, ChunkBytesValue(absl::GetFlag(FLAGS_chunk_bytes)));
  const int top_k = absl::GetFlag(FLAGS_top_k);
  const std::string& session_id = args[0];
  HECATE_ASSIGN_OR_RETURN(
      absl::optional<uint64_t> expected,
      ExpectedPulseValue(absl::GetFlag(FLAGS_expected_pulse_id), "expected_pulse_id"));
  InputFile input;
  if (absl::Status status = input.Open(args.size() > 1 ? args[1] : ""); !status.ok()) {
    return status;
  }

  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<StreamSession> stream,
                          context.client->OpenStreamFor(session_id));
  ChunkReader reader(input.fd(), chunk_bytes);
  int chunks = 0;
  uint64_t pulse = 0;
  while (true) {
    HECATE_ASSIGN_OR_RETURN(absl::optional<std::string> chunk, reader.Next());
    // Empty input with --top_k still asks for the distribution at the
    // session's current position, through one empty chunk.
    if (!chunk.has_value() && !(chunks == 0 && top_k > 0)) break;
    v1::StreamRequest request;
    request.set_request_id(stream->NextRequestId());
    request.set_session_id(session_id);
    if (chunk.has_value()) request.set_input(*chunk);
    if (top_k > 0) request.mutable_output()->mutable_top_k()->set_k(top_k);
    if (expected.has_value()) request.set_expected_pulse_id(*expected);
    HECATE_ASSIGN_OR_RETURN(v1::StreamResponse done, stream->Call(request));
    ++chunks;
    pulse = done.pulse_id();
    if (expected.has_value()) expected = pulse;  // the next chunk continues from here
    PrintChunkResult(context, chunks, request.input().size(), done);
    if (!chunk.has_value()) break;
  }
  HECATE_RETURN_IF_ERROR(stream->Finish());
  if (!context.json) {
    *context.out << "streamed " << reader.bytes_read() << " bytes in " << chunks << " chunk"
                 << (chunks == 1 ? "" : "s");
    if (chunks > 0) *context.out << "; session " << session_id << " at pulse " << pulse;
    *context.out << "\n";
  }
  return absl::OkStatus();
}

}  // namespace hecate

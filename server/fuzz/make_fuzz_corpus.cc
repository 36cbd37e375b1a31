// Writes the seed corpora of the server's fuzz targets (the files under
// server/fuzz/corpus/): one small input per request shape, limit and
// credential case the targets document, so fuzzing starts from every
// branch and the corpus-replay tests cover them with the regular toolchain.
//
//   bazel run //server/fuzz:make_fuzz_corpus -- $PWD/server/fuzz/corpus
//
// Regression inputs for findings are added beside these by hand (named
// regression-*), never regenerated.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "proto/hecate/v1/hecate.pb.h"

namespace hecate::v1 {
namespace {

void Write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

StreamRequest Chunk(const std::string& input) {
  StreamRequest r;
  r.set_request_id("r1");
  r.set_session_id("0123456789abcdef0123456789abcdef");
  r.set_input(input);
  return r;
}

StreamRequest TopK(const std::string& input, int k) {
  StreamRequest r = Chunk(input);
  r.mutable_output()->mutable_top_k()->set_k(k);
  return r;
}

StreamRequest Sample(const std::string& input, float temperature, int max_tokens) {
  StreamRequest r = Chunk(input);
  SamplingParams* s = r.mutable_output()->mutable_sample();
  s->set_temperature(temperature);
  s->set_max_tokens(max_tokens);
  s->set_seed(7);
  return r;
}

StreamRequest Score(const std::string& input) {
  StreamRequest r = Chunk(input);
  r.mutable_output()->mutable_score()->set_per_byte(true);
  return r;
}

void ValidationCorpus(const std::filesystem::path& dir) {
  auto stream = [&](const std::string& name, const StreamRequest& r) {
    Write(dir, name, std::string(1, '\0') + r.SerializeAsString());
  };
  stream("stream-none", Chunk("hello"));
  stream("stream-top-k", TopK("hello", 5));
  stream("stream-top-k-0", TopK("hello", 0));
  stream("stream-top-k-257", TopK("hello", 257));
  stream("stream-sample", Sample("to be", 0.8f, 4));
  stream("stream-sample-greedy", Sample("to be", 0.0f, 4));
  stream("stream-sample-tiny-temperature", Sample("to be", 1e-40f, 4));
  stream("stream-sample-max-tokens-0", Sample("to be", 1.0f, 0));
  stream("stream-sample-max-tokens-big", Sample("to be", 1.0f, 5000));
  StreamRequest nucleus = Sample("or not", 0.7f, 3);
  nucleus.mutable_output()->mutable_sample()->set_top_p(0.5f);
  nucleus.mutable_output()->mutable_sample()->set_top_k(3);
  nucleus.mutable_output()->mutable_sample()->set_stop_bytes("\n.");
  stream("stream-sample-nucleus", nucleus);
  stream("stream-score", Score("abc"));
  StreamRequest stops = Sample("to be", 0.8f, 6);
  stops.mutable_output()->mutable_sample()->add_stop_sequences("\n\n");
  stops.mutable_output()->mutable_sample()->add_stop_sequences("be");
  stops.mutable_output()->mutable_sample()->set_top_k_alternatives(3);
  stream("stream-sample-stop-sequences", stops);
  stops.mutable_output()->mutable_sample()->add_stop_sequences("");
  stops.mutable_output()->mutable_sample()->set_top_k_alternatives(21);
  stream("stream-sample-bad-stop-sequences", stops);
  StreamRequest long_id = Chunk("x");
  long_id.set_request_id(std::string(200, 'i'));
  long_id.set_session_id(std::string(300, 'S'));
  stream("stream-long-ids", long_id);
  StreamRequest upper = Chunk("");
  upper.set_session_id("0123456789ABCDEF0123456789ABCDEF");
  stream("stream-upper-case-id", upper);
  stream("stream-big-chunk", Chunk(std::string(40, 'z')));

  GenerateRequest g;
  g.set_prompt("once upon");
  g.mutable_sampling()->set_max_tokens(8);
  g.mutable_sampling()->set_temperature(0.9f);
  Write(dir, "generate", std::string(1, '\1') + g.SerializeAsString());
  g.mutable_sampling()->set_temperature(101.0f);
  Write(dir, "generate-hot", std::string(1, '\1') + g.SerializeAsString());
  GenerateRequest bare;
  bare.set_prompt("p");
  Write(dir, "generate-no-sampling", std::string(1, '\1') + bare.SerializeAsString());

  ExportCheckpointRequest e;
  e.set_session_id("0123456789abcdef0123456789abcdef");
  e.set_name("before-edit.v2");
  Write(dir, "export-named", std::string(1, '\2') + e.SerializeAsString());
  e.set_name("../../etc/passwd");
  Write(dir, "export-traversal", std::string(1, '\2') + e.SerializeAsString());
  RestoreCheckpointRequest r;
  r.set_checkpoint_name(".hidden");
  r.set_expected_pulse_id(20);
  Write(dir, "restore-hidden-name", std::string(1, '\3') + r.SerializeAsString());
  r.set_checkpoint_data("HECATECK");
  r.set_session_id("0123456789abcdef0123456789abcdef");
  Write(dir, "restore-bytes", std::string(1, '\3') + r.SerializeAsString());
  Write(dir, "id-valid", "\4" "0123456789abcdef0123456789abcdef");
  Write(dir, "id-name", "\4" "my_checkpoint-1");
}

void AuthCorpus(const std::filesystem::path& dir) {
  const std::string keys = "alice:alice-key-0123456789abcdef\n# comment\n\nbob: bob-key-fedcba9876543210 \n";
  Write(dir, "valid-alice", keys + std::string(1, '\0') + "Bearer alice-key-0123456789abcdef");
  Write(dir, "valid-bob-leading-space", keys + std::string(1, '\0') + "Bearer  bob-key-fedcba9876543210");
  Write(dir, "unknown-key", keys + std::string(1, '\0') + "Bearer alice-key-0123456789abcdeF");
  Write(dir, "no-scheme", keys + std::string(1, '\0') + "alice-key-0123456789abcdef");
  Write(dir, "basic-scheme", keys + std::string(1, '\0') + "Basic YWxpY2U6a2V5");
  Write(dir, "empty-header", keys + std::string(1, '\0'));
  Write(dir, "short-key", std::string("carol:short\n") + '\0' + "Bearer short");
  // Per-user settings after the key (server/auth.h).
  Write(dir, "session-ttl-setting",
        std::string("alice:alice-key-0123456789abcdef session_ttl=30m\n"
                    "dave:dave key with spaces 0123\tsession_ttl=0\n") +
            '\0' + "Bearer dave key with spaces 0123");
  Write(dir, "unknown-setting",
        std::string("alice:alice-key-0123456789abcdef ttl=5s\n") + '\0' + "Bearer x");
  Write(dir, "duplicate-key", std::string("a:0123456789abcdef\nb:0123456789abcdef\n") + '\0' + "Bearer x");
  Write(dir, "bad-user", std::string(".hidden:0123456789abcdef\n") + '\0' + "Bearer 0123456789abcdef");
  Write(dir, "no-colon", std::string("just-a-line\n") + '\0');
  Write(dir, "empty-file", std::string(1, '\0') + "Bearer anything-at-all-0000");
  Write(dir, "fixed-keys-header", "Bearer bob-key-fedcba9876543210");
}

// A stream fuzzer record: kind, 2-byte length, payload.
std::string Record(int kind, const std::string& payload) {
  std::string r(1, static_cast<char>(kind));
  r.push_back(static_cast<char>(payload.size() & 0xff));
  r.push_back(static_cast<char>(payload.size() >> 8));
  return r + payload;
}

// Within the stream fuzzer's limits (stream_fuzzer.cc): chunks of at most
// 32 bytes, at most 4 generated tokens, 8 records.
void StreamCorpus(const std::filesystem::path& dir) {
  constexpr int kMaxTokens = 4;
  const std::string valid(1, '\0');
  auto a = [](const StreamRequest& r) { return Record(1, r.SerializeAsString()); };
  auto b = [](const StreamRequest& r) { return Record(2, r.SerializeAsString()); };
  Write(dir, "top-k", valid + a(TopK("hello", 3)));
  Write(dir, "prefill-then-generate", valid + a(Chunk("to be or ")) + a(Sample("not", 0.8f, kMaxTokens)) +
                                          a(TopK("?", 2)));
  Write(dir, "two-sessions-interleaved", valid + a(Chunk("abc")) + b(Sample("xyz", 1.0f, kMaxTokens)) +
                                             a(Score("defg")) + b(Chunk("")) + a(TopK("h", 256)));
  Write(dir, "greedy-tiny-temperature", valid + a(Sample("q", 1e-40f, 4)) + a(Sample("q", 0.0f, 4)));
  Write(dir, "unparsable-in-the-middle",
        valid + a(Chunk("one")) + Record(0, "\xff\xff\xff\xff") + a(Chunk("never read")));
  Write(dir, "empty-input-with-output", valid + a(TopK("", 3)) + a(Sample("", 1.0f, 2)) + a(Score("")));
  Write(dir, "invalid-specs", valid + a(TopK("x", 0)) + a(Sample("x", -1.0f, 2)) +
                                  a(Sample("x", 1.0f, kMaxTokens + 1)) +
                                  a(Chunk(std::string(33, 'c'))));
  StreamRequest unknown = TopK("x", 1);
  unknown.set_session_id("ffffffffffffffffffffffffffffffff");
  StreamRequest long_ids = Chunk("x");  // over 128 and 32 bytes, within -max_len=512
  long_ids.set_request_id(std::string(200, 'r'));
  long_ids.set_session_id(std::string(200, 's'));
  Write(dir, "fuzzed-ids", valid + Record(3, unknown.SerializeAsString()) +
                               Record(3, long_ids.SerializeAsString()) + a(Chunk("ok")));
  std::string flood = valid;
  for (int i = 0; i < 8; ++i) flood += (i % 2 == 0 ? a : b)(Sample("go", 1.0f, kMaxTokens));
  Write(dir, "backpressure-generate-flood", flood);
  // expected_pulse_id right (applied) and wrong (refused, nothing applied).
  auto at = [](StreamRequest r, uint64_t pulse) {
    r.set_expected_pulse_id(pulse);
    return r;
  };
  Write(dir, "expected-pulse-ids",
        valid + a(at(Chunk("abc"), 0)) + a(at(Chunk("de"), 0)) + a(at(Sample("f", 1.0f, 3), 3)) +
            b(at(TopK("x", 2), 5)) + a(at(TopK("", 2), 1)) + b(at(Chunk(""), 0)));
  StreamRequest stop_sample = Sample("to be", 1.0f, kMaxTokens);
  stop_sample.mutable_output()->mutable_sample()->add_stop_sequences("e ");
  stop_sample.mutable_output()->mutable_sample()->add_stop_sequences(std::string("\xff\x00", 2));
  stop_sample.mutable_output()->mutable_sample()->set_top_k_alternatives(20);
  Write(dir, "stop-sequences-and-alternatives", valid + a(stop_sample) + b(stop_sample));
  Write(dir, "empty-stream", valid);
  Write(dir, "auth-missing", std::string(1, '\5') + a(Chunk("x")));
  Write(dir, "auth-unknown-key", std::string(1, '\6') + a(Chunk("x")));
  Write(dir, "auth-two-values", std::string(1, '\7') + a(Chunk("x")));
}

}  // namespace
}  // namespace hecate::v1

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_corpus <server/fuzz/corpus>\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  hecate::v1::ValidationCorpus(root / "validation_fuzzer");
  hecate::v1::AuthCorpus(root / "auth_fuzzer");
  hecate::v1::StreamCorpus(root / "stream_fuzzer");
  return 0;
}

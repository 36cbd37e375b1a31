// Writes the checkpoint fuzzer's seed corpus (sessions/testdata/checkpoint_corpus):
// real checkpoints of the fuzzer's micro model at pulse ids that exercise
// every invariant, plus a newer-version header.
//
//   bazel run //sessions:make_checkpoint_corpus -- $PWD/sessions/testdata/checkpoint_corpus
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_checkpoint_corpus DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  auto model = hecate::testing::MicroModel(20240601);  // kFuzzModelSeed
  int written = 0;
  for (uint64_t pulse : {0ull, 1ull, 3ull, 6ull, 1001ull, (1ull << 40) + 2}) {
    hecate::ModelState state(model->config());
    hecate::testing::FillRandomValidState(state, pulse, pulse * 31 + 7);
    absl::StatusOr<std::string> bytes = hecate::EncodeCheckpoint(*model, state);
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s\n", std::string(bytes.status().message()).c_str());
      return 1;
    }
    std::ofstream(absl::StrCat(dir, "/pulse-", pulse, ".ckpt"), std::ios::binary) << *bytes;
    ++written;
    if (pulse == 1001) {
      std::string newer = *bytes;
      hecate::testing::PutU32At(newer, hecate::testing::kVersionOffset, 5);
      hecate::testing::RecomputeChecksums(newer);
      std::ofstream(absl::StrCat(dir, "/version-5.ckpt"), std::ios::binary) << newer;
      ++written;
    }
    if (pulse == 6 || pulse == 1001) {  // with a transcript (versions 3 and 4)
      hecate::Transcript transcript;
      std::string consumed;
      for (uint64_t i = 0; i < pulse; ++i) consumed.push_back(static_cast<char>(i * 7 + 1));
      transcript.Append(consumed, 40);
      for (const bool sign : {false, true}) {
        absl::StatusOr<std::string> with = hecate::EncodeCheckpoint(
            *model, state, transcript,
            sign ? hecate::testing::TestSigning() : hecate::CheckpointSigning{});
        if (!with.ok()) return 1;
        std::ofstream(absl::StrCat(dir, "/transcript-", sign ? "signed-" : "", "pulse-", pulse,
                                   ".ckpt"),
                      std::ios::binary)
            << *with;
        ++written;
      }
    }
    if (pulse == 3 || pulse == 1001) {  // signed with the fuzzer's key (version 2)
      absl::StatusOr<std::string> sealed =
          hecate::EncodeCheckpoint(*model, state, hecate::testing::TestSigning());
      if (!sealed.ok()) return 1;
      std::ofstream(absl::StrCat(dir, "/signed-pulse-", pulse, ".ckpt"), std::ios::binary)
          << *sealed;
      ++written;
    }
  }
  std::printf("wrote %d seed checkpoints to %s\n", written, dir.c_str());
  return 0;
}

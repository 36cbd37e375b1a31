// Transcripts and forks through the API (issue 15, items 1 and 2): digests
// that depend on the bytes alone, in Session, ChunkDone and checkpoints;
// ReadTranscript; restore with expected_digest; ForkSession continuing bit
// for bit like a twin while the original stays untouched; drain and restart
// keep it all; another user's session is NOT_FOUND for every new RPC.
#include <csignal>
#include <random>

#include "base/test_seed.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class TranscriptE2eTest : public E2eTest {
 protected:
  // Feeds `text` to `session` in chunks of `chunk` bytes; returns the last
  // ChunkDone's transcript digest.
  std::string Feed(StreamSession& stream, const std::string& session, const std::string& text,
                   size_t chunk) {
    std::string digest;
    for (size_t at = 0; at < text.size(); at += chunk) {
      v1::StreamRequest request;
      request.set_session_id(session);
      request.set_input(text.substr(at, chunk));
      absl::StatusOr<v1::StreamResponse> done = stream.Call(request);
      EXPECT_TRUE(done.ok()) << done.status();
      if (done.ok()) digest = done->done().transcript_digest();
    }
    return digest;
  }

  // The top-256 after `text`: every log-prob, bit for bit comparable.
  std::vector<float> NextDistribution(StreamSession& stream, const std::string& session,
                                      const std::string& text) {
    absl::StatusOr<v1::StreamResponse> done = stream.Call(TopKRequest(session, text, 256));
    EXPECT_TRUE(done.ok()) << done.status();
    std::vector<float> out(256);
    if (!done.ok()) return out;
    for (const v1::TokenLogProb& t : done->done().top_k()) out[t.token()] = t.logprob();
    return out;
  }
};

TEST_F(TranscriptE2eTest, DigestTranscriptForkAndRestore) {
  StartDaemon();
  std::mt19937_64 rng(TestSeed());
  const std::string text = Text(200 + rng() % 200, rng());
  const size_t chunk = 10 + rng() % 90;
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  const std::string original = alice_->CreateSession()->id();
  const std::string twin = alice_->CreateSession()->id();
  const std::string whole = alice_->CreateSession()->id();
  const std::string fresh_digest = alice_->GetSession(original)->transcript_digest();
  ASSERT_EQ(fresh_digest.size(), 64u);

  // ChunkDone and Session carry the same digest; it depends on the bytes only.
  const std::string digest = Feed(*stream, original, text, chunk);
  EXPECT_EQ(alice_->GetSession(original)->transcript_digest(), digest);
  EXPECT_NE(digest, fresh_digest);
  EXPECT_EQ(Feed(*stream, twin, text, chunk), digest);
  EXPECT_EQ(Feed(*stream, whole, text, text.size()), digest);
  std::string changed = text;
  changed[rng() % changed.size()] ^= 1;
  const std::string other = alice_->CreateSession()->id();
  EXPECT_NE(Feed(*stream, other, changed, chunk), digest);

  // The transcript is the bytes consumed.
  EXPECT_EQ(*alice_->ReadWholeTranscript(original), text);
  absl::StatusOr<v1::ReadTranscriptResponse> part = alice_->ReadTranscript(original, 5, 7);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ(part->data(), text.substr(5, 7));
  EXPECT_EQ(part->pulse_id(), text.size());
  EXPECT_EQ(part->transcript_digest(), digest);
  EXPECT_EQ(alice_->ReadTranscript(original, text.size() + 1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(alice_->ReadTranscript(original, 0, -1).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Fork: same pulse and digest; it and the twin agree bit for bit on what
  // follows, and the original is untouched by what the fork consumes.
  absl::StatusOr<v1::Session> fork = alice_->ForkSession(original);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_NE(fork->id(), original);
  EXPECT_EQ(fork->pulse_id(), text.size());
  EXPECT_EQ(fork->transcript_digest(), digest);
  const std::string before = alice_->ExportCheckpoint(original)->checkpoint_data();
  const std::string more = Text(50 + rng() % 50, rng());
  const std::vector<float> from_fork = NextDistribution(*stream, fork->id(), more);
  const std::vector<float> from_twin = NextDistribution(*stream, twin, more);
  EXPECT_EQ(from_fork, from_twin);  // bitwise
  EXPECT_EQ(alice_->GetSession(fork->id())->transcript_digest(),
            alice_->GetSession(twin)->transcript_digest());
  EXPECT_EQ(*alice_->ReadWholeTranscript(fork->id()), text + more);
  EXPECT_EQ(alice_->ExportCheckpoint(original)->checkpoint_data(), before);
  EXPECT_EQ(alice_->GetSession(original)->transcript_digest(), digest);
  EXPECT_EQ(*alice_->ReadWholeTranscript(original), text);

  // A checkpoint restored anywhere reports the same digest; expected_digest
  // is checked before anything is created.
  v1::RestoreCheckpointRequest right;
  right.set_checkpoint_data(before);
  right.set_expected_digest(digest);
  absl::StatusOr<v1::Session> restored = alice_->RestoreCheckpoint(right);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->transcript_digest(), digest);
  EXPECT_EQ(*alice_->ReadWholeTranscript(restored->id()), text);
  const size_t sessions = alice_->ListSessions()->size();
  v1::RestoreCheckpointRequest wrong = right;
  wrong.set_expected_digest(fresh_digest);
  absl::Status refused = alice_->RestoreCheckpoint(wrong).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find(digest), std::string::npos) << refused;
  EXPECT_NE(refused.message().find(fresh_digest), std::string::npos) << refused;
  EXPECT_EQ(alice_->ListSessions()->size(), sessions);
  EXPECT_TRUE(stream->Finish().ok());
}

// The walk: stream a text, fork at the middle, continue both
// differently, rewind the original to the fork point; digests and next-byte
// distributions match fresh twins fed the same bytes in the same chunks.
TEST_F(TranscriptE2eTest, ForkAtTheMiddleAndRewindMatchFreshTwins) {
  StartDaemon({"--snapshot_interval=64"});
  std::mt19937_64 rng(TestSeed());
  const std::string text = Text(300 + rng() % 200, rng());
  const size_t chunk = 20 + rng() % 30;
  const size_t middle = text.size() / 2 + rng() % 20;
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  const std::string original = alice_->CreateSession()->id();
  Feed(*stream, original, text, chunk);

  // A twin fed the first `middle` bytes in the same chunks, the last cut.
  auto twin_at = [&](size_t pulse) {
    const std::string twin = alice_->CreateSession()->id();
    for (size_t at = 0; at < pulse; at += chunk) {
      Feed(*stream, twin, text.substr(at, std::min(chunk, pulse - at)), chunk);
    }
    return twin;
  };
  absl::StatusOr<v1::Session> fork = alice_->ForkSession(original, middle);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->pulse_id(), middle);
  const std::string twin = twin_at(middle);
  EXPECT_EQ(fork->transcript_digest(), alice_->GetSession(twin)->transcript_digest());
  EXPECT_EQ(*alice_->ReadWholeTranscript(fork->id()), text.substr(0, middle));
  EXPECT_EQ(alice_->GetSession(original)->pulse_id(), text.size());  // untouched

  // Continue both differently; the fork agrees with its twin bit for bit.
  const std::string a = Text(40, rng()), b = Text(40, rng());
  EXPECT_EQ(NextDistribution(*stream, fork->id(), a), NextDistribution(*stream, twin, a));
  ASSERT_TRUE(stream->Call(TopKRequest(original, b, 1)).ok());

  // Rewind the original to the fork point: a fresh twin again.
  absl::StatusOr<v1::Session> rewound = alice_->RewindSession(original, middle);
  ASSERT_TRUE(rewound.ok()) << rewound.status();
  EXPECT_EQ(rewound->pulse_id(), middle);
  const std::string twin2 = twin_at(middle);
  EXPECT_EQ(rewound->transcript_digest(), alice_->GetSession(twin2)->transcript_digest());
  EXPECT_EQ(NextDistribution(*stream, original, a), NextDistribution(*stream, twin2, a));
  EXPECT_EQ(alice_->GetSession(original)->transcript_digest(),
            alice_->GetSession(fork->id())->transcript_digest());

  // Past the session's pulse id, or before anything kept: OUT_OF_RANGE.
  const uint64_t pulse = alice_->GetSession(original)->pulse_id();
  EXPECT_EQ(alice_->RewindSession(original, pulse + 1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(alice_->ForkSession(original, pulse + 1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(bob_->RewindSession(original, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(bob_->ForkSession(original, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(TranscriptE2eTest, RewindPastTheOldestSnapshotNamesIt) {
  StartDaemon({"--snapshot_interval=32", "--max_snapshot_bytes_per_session=0"});
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  Feed(*stream, id, Text(100, 9), 25);
  absl::Status refused = alice_->RewindSession(id, 50).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kOutOfRange) << refused;
  EXPECT_NE(refused.message().find("can be rewound to, 100"), std::string::npos) << refused;
  EXPECT_TRUE(alice_->RewindSession(id, 100).ok());  // where it is: nothing to do
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(TranscriptE2eTest, AnotherUsersSessionIsNotFound) {
  StartDaemon();
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(id, Text(40, 1), 1)).ok());
  EXPECT_TRUE(stream->Finish().ok());
  const std::string missing(32, 'a');
  for (const std::string& session : {id, missing}) {
    absl::Status read = bob_->ReadTranscript(session, 0).status();
    absl::Status fork = bob_->ForkSession(session).status();
    EXPECT_EQ(read.code(), absl::StatusCode::kNotFound) << read;
    EXPECT_EQ(fork.code(), absl::StatusCode::kNotFound) << fork;
    // Exactly the answer for an id that does not exist.
    EXPECT_EQ(read.message(), absl::StrCat("session ", session, " not found"));
    EXPECT_EQ(fork.message(), absl::StrCat("session ", session, " not found"));
  }
  EXPECT_EQ(bob_->ListSessions()->size(), 0u);
  EXPECT_EQ(alice_->ForkSession("not-an-id").status().code(), absl::StatusCode::kInvalidArgument);
  std::unique_ptr<HecateClient> nobody = Client("");
  EXPECT_EQ(nobody->ReadTranscript(id, 0).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(nobody->ForkSession(id).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TranscriptE2eTest, DrainAndRestartKeepTranscriptAndDigest) {
  StartDaemon({"--max_journal_bytes=100"});
  const std::string id = alice_->CreateSession()->id();
  const std::string text = Text(250, TestSeed());
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  const std::string digest = Feed(*stream, id, text, 60);
  EXPECT_TRUE(stream->Finish().ok());
  // Only the last 100 bytes are kept; the digest covers all 250.
  EXPECT_EQ(alice_->GetSession(id)->transcript_start_pulse(), 150u);
  EXPECT_EQ(alice_->ReadTranscript(id, 149).status().code(), absl::StatusCode::kOutOfRange);

  absl::StatusOr<int> exit_code = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  StartDaemon({"--max_journal_bytes=100"});  // same state_dir_
  absl::StatusOr<v1::Session> back = alice_->GetSession(id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->transcript_digest(), digest);
  EXPECT_EQ(back->transcript_start_pulse(), 150u);
  EXPECT_EQ(*alice_->ReadWholeTranscript(id, 150), text.substr(150));
  // A twin fed the same bytes in other chunks has the same digest.
  const std::string twin = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> again = *alice_->OpenStream();
  EXPECT_EQ(Feed(*again, twin, text, 250), digest);
  EXPECT_TRUE(again->Finish().ok());
}

}  // namespace
}  // namespace hecate::testing

// The session store's transcripts and forks: digests that depend on the
// bytes alone, kept across tiers, drain, restart and restores; forks that
// continue independently of their source.
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

std::vector<uint8_t> RandomTokens(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> tokens(n);
  for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng());
  return tokens;
}

std::string AsString(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

class TranscriptStoreTest : public ::testing::Test {
 protected:
  TranscriptStoreTest()
      : rng_(TestSeed()), model_(testing::MicroModel(rng_())), backend_(MakeCpuBackend(model_)) {}

  std::string FreshDir() {
    const char* root = std::getenv("TEST_TMPDIR");
    std::string dir = absl::StrCat(root != nullptr ? root : "/tmp", "/transcript-store-",
                                   ::getpid(), "-", rng_());
    std::filesystem::create_directories(dir);
    return dir;
  }

  std::unique_ptr<SessionStore> OpenStore(SessionStoreOptions options = {}) {
    if (options.state_dir.empty()) options.state_dir = FreshDir();
    options.host_tier = false;
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  // Feeds `tokens` to session `id` in chunks of the given sizes (the rest in
  // one chunk at the end).
  void Feed(SessionStore& store, const std::string& id, const std::vector<uint8_t>& tokens,
            size_t chunk) {
    absl::StatusOr<SessionLease> lease = store.Acquire(id, "alice");
    ASSERT_TRUE(lease.ok()) << lease.status();
    for (size_t at = 0; at < tokens.size(); at += chunk) {
      const size_t n = std::min(chunk, tokens.size() - at);
      ASSERT_TRUE(store
                      .ApplyChunk(*lease, absl::MakeConstSpan(tokens).subspan(at, n),
                                  LogitsMode::kNone, nullptr)
                      .ok());
    }
  }

  ModelState StateOf(SessionStore& store, const std::string& id) {
    ModelState state(model_->config());
    absl::StatusOr<ExportedCheckpoint> exported = store.Export(id, "alice");
    EXPECT_TRUE(exported.ok()) << exported.status();
    absl::StatusOr<ModelState> decoded = DecodeCheckpoint(*model_, exported->bytes);
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    return decoded.ok() ? *decoded : state;
  }

  std::string Digest(SessionStore& store, const std::string& id) {
    return store.Get(id, "alice")->transcript_digest;
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(TranscriptStoreTest, SameBytesSameDigestOneByteChangesIt) {
  std::unique_ptr<SessionStore> store = OpenStore();
  const std::vector<uint8_t> tokens = RandomTokens(50 + rng_() % 200, rng_);
  std::vector<uint8_t> other = tokens;
  other[rng_() % other.size()] ^= static_cast<uint8_t>(1 + rng_() % 255);
  const std::string a = store->Create("alice")->id, b = store->Create("alice")->id,
                    c = store->Create("alice")->id;
  const std::string fresh_digest = Digest(*store, a);
  EXPECT_EQ(fresh_digest.size(), 64u);
  Feed(*store, a, tokens, 1 + rng_() % 16);
  Feed(*store, b, tokens, 1 + rng_() % 100);
  Feed(*store, c, other, 1 + rng_() % 16);
  EXPECT_EQ(Digest(*store, a), Digest(*store, b));
  EXPECT_NE(Digest(*store, a), Digest(*store, c));
  EXPECT_NE(Digest(*store, a), fresh_digest);
  EXPECT_EQ(fresh_digest, Transcript().digest_hex());
  Transcript expected;
  expected.Append(AsString(tokens), kDefaultMaxJournalBytes);
  EXPECT_EQ(Digest(*store, a), expected.digest_hex());
  // The journal holds exactly the bytes fed.
  absl::StatusOr<TranscriptBytes> all = store->ReadTranscript(a, "alice", 0, 1 << 20);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->data, AsString(tokens));
  EXPECT_EQ(all->pulse_id, tokens.size());
  EXPECT_EQ(all->digest, Digest(*store, a));
  EXPECT_EQ(store->ReadTranscript(a, "alice", 3, 5)->data, AsString(tokens).substr(3, 5));
  EXPECT_EQ(store->ReadTranscript(a, "alice", tokens.size() + 1, 1).status().code(),
            absl::StatusCode::kOutOfRange);
  // Another user's session is exactly as missing as an unknown one.
  EXPECT_EQ(store->ReadTranscript(a, "bob", 0, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TranscriptStoreTest, JournalIsBoundedDigestIsNot) {
  SessionStoreOptions options;
  options.max_journal_bytes = 10 + rng_() % 40;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::vector<uint8_t> tokens = RandomTokens(200, rng_);
  const std::string id = store->Create("alice")->id;
  Feed(*store, id, tokens, 7);
  const SessionInfo info = *store->Get(id, "alice");
  EXPECT_EQ(info.transcript_start_pulse, tokens.size() - options.max_journal_bytes);
  EXPECT_EQ(store->ReadTranscript(id, "alice", info.transcript_start_pulse, 1 << 20)->data,
            AsString(tokens).substr(info.transcript_start_pulse));
  EXPECT_EQ(store->ReadTranscript(id, "alice", 0, 1).status().code(),
            absl::StatusCode::kOutOfRange);
  Transcript whole;
  whole.Append(AsString(tokens), kDefaultMaxJournalBytes);
  EXPECT_EQ(info.transcript_digest, whole.digest_hex());
}

TEST_F(TranscriptStoreTest, DigestSurvivesOffloadDrainRestartAndRestore) {
  SessionStoreOptions options;
  options.state_dir = FreshDir();
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::vector<uint8_t> tokens = RandomTokens(100 + rng_() % 100, rng_);
  const std::string id = store->Create("alice")->id;
  Feed(*store, id, tokens, 13);
  const std::string digest = Digest(*store, id);

  // Restored anywhere: the same digest; a wrong expectation changes nothing.
  absl::StatusOr<ExportedCheckpoint> exported = store->Export(id, "alice");
  ASSERT_TRUE(exported.ok()) << exported.status();
  absl::StatusOr<SessionInfo> restored =
      store->RestoreFromBytes("alice", exported->bytes, std::nullopt, "", digest);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->transcript_digest, digest);
  EXPECT_EQ(store->ReadTranscript(restored->id, "alice", 0, 1 << 20)->data, AsString(tokens));
  const std::string wrong = Transcript().digest_hex();
  absl::StatusOr<SessionInfo> refused =
      store->RestoreFromBytes("alice", exported->bytes, std::nullopt, "", wrong);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(digest), absl::string_view::npos);
  EXPECT_NE(refused.status().message().find(wrong), absl::string_view::npos);
  EXPECT_EQ(store->RestoreFromBytes("alice", exported->bytes, std::nullopt, "", "xyz")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->List("alice").size(), 2u);

  // Drain and restart: a new store over the same directory.
  ASSERT_TRUE(store->CheckpointAll().ok());
  store.reset();
  store = OpenStore(options);
  absl::StatusOr<LoadReport> loaded = store->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->loaded, 2u);
  EXPECT_EQ(Digest(*store, id), digest);
  EXPECT_EQ(store->Get(id, "alice")->residency, Residency::kDisk);
  EXPECT_EQ(store->ReadTranscript(id, "alice", 0, 1 << 20)->data, AsString(tokens));
  // And it continues: a reload from disk and more bytes.
  const std::vector<uint8_t> more = RandomTokens(30, rng_);
  Feed(*store, id, more, 4);
  Transcript whole;
  whole.Append(AsString(tokens) + AsString(more), kDefaultMaxJournalBytes);
  EXPECT_EQ(Digest(*store, id), whole.digest_hex());
}

TEST_F(TranscriptStoreTest, ForkAndTwinAgreeAndTheOriginalIsUntouched) {
  std::unique_ptr<SessionStore> store = OpenStore();
  const std::vector<uint8_t> prefix = RandomTokens(40 + rng_() % 60, rng_);
  const std::vector<uint8_t> suffix = RandomTokens(20 + rng_() % 60, rng_);
  const size_t chunk = 1 + rng_() % 20;
  const std::string original = store->Create("alice")->id;
  const std::string twin = store->Create("alice")->id;
  Feed(*store, original, prefix, chunk);
  Feed(*store, twin, prefix, chunk);
  const ModelState before = StateOf(*store, original);
  const std::string digest_before = Digest(*store, original);

  absl::StatusOr<SessionInfo> fork = store->Fork(original, "alice");
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_NE(fork->id, original);
  EXPECT_EQ(fork->pulse_id, prefix.size());
  EXPECT_EQ(fork->transcript_digest, digest_before);
  EXPECT_TRUE(StateOf(*store, fork->id).BitwiseEquals(before));

  Feed(*store, fork->id, suffix, chunk);
  Feed(*store, twin, suffix, chunk);
  EXPECT_TRUE(StateOf(*store, fork->id).BitwiseEquals(StateOf(*store, twin)));
  EXPECT_EQ(Digest(*store, fork->id), Digest(*store, twin));
  EXPECT_EQ(store->ReadTranscript(fork->id, "alice", 0, 1 << 20)->data,
            AsString(prefix) + AsString(suffix));
  // The original is where it was.
  EXPECT_TRUE(StateOf(*store, original).BitwiseEquals(before));
  EXPECT_EQ(Digest(*store, original), digest_before);
  EXPECT_EQ(store->ReadTranscript(original, "alice", 0, 1 << 20)->data, AsString(prefix));

  // Another user cannot fork it, and forks count against the limits.
  EXPECT_EQ(store->Fork(original, "bob").status().code(), absl::StatusCode::kNotFound);
  SessionStoreOptions small;
  small.max_sessions_per_user = 1;
  std::unique_ptr<SessionStore> tight = OpenStore(small);
  const std::string only = tight->Create("alice")->id;
  EXPECT_EQ(tight->Fork(only, "alice").status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace hecate

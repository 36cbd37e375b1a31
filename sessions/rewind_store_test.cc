// Rewinds and forks at a pulse: the result equals, bit for bit, a session
// fed the same first bytes in the same chunks (the last one cut there);
// snapshots stay within their budget and a rewind past the oldest is
// OUT_OF_RANGE naming the oldest pulse reachable.
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
#include "sessions/recording_store_observer.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

class RewindStoreTest : public ::testing::Test {
 protected:
  RewindStoreTest()
      : rng_(TestSeed()), model_(testing::MicroModel(rng_())), backend_(MakeCpuBackend(model_)) {}

  std::unique_ptr<SessionStore> OpenStore(SessionStoreOptions options) {
    options.host_tier = false;
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  std::vector<uint8_t> RandomTokens(size_t n) {
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    return tokens;
  }

  // Random chunk lengths covering n tokens.
  std::vector<size_t> RandomChunks(size_t n, size_t max_chunk) {
    std::vector<size_t> chunks;
    for (size_t at = 0; at < n;) {
      const size_t len = std::min<size_t>(1 + rng_() % max_chunk, n - at);
      chunks.push_back(len);
      at += len;
    }
    return chunks;
  }

  // Feeds tokens[0, limit) in `chunks` (the chunk holding `limit` cut there).
  void Feed(SessionStore& store, const std::string& id, const std::vector<uint8_t>& tokens,
            const std::vector<size_t>& chunks, size_t limit) {
    absl::StatusOr<SessionLease> lease = store.Acquire(id, "alice");
    ASSERT_TRUE(lease.ok()) << lease.status();
    size_t at = 0;
    for (size_t len : chunks) {
      if (at >= limit) break;
      const size_t n = std::min(len, limit - at);
      ASSERT_TRUE(store
                      .ApplyChunk(*lease, absl::MakeConstSpan(tokens).subspan(at, n),
                                  LogitsMode::kNone, nullptr)
                      .ok());
      at += n;
    }
  }

  struct Observed {
    ModelState state;
    std::string digest;
    std::vector<float> next_logits;
    std::string transcript;
  };
  Observed Observe(SessionStore& store, const std::string& id) {
    absl::StatusOr<ExportedCheckpoint> exported = store.Export(id, "alice");
    EXPECT_TRUE(exported.ok()) << exported.status();
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model_, exported->bytes);
    EXPECT_TRUE(state.ok()) << state.status();
    absl::StatusOr<SessionLease> lease = store.Acquire(id, "alice");
    EXPECT_TRUE(lease.ok());
    absl::StatusOr<TranscriptBytes> transcript = store.ReadTranscript(id, "alice", 0, 1 << 20);
    return Observed{*state, lease->info().transcript_digest, lease->next_logits(),
                    transcript.ok() ? transcript->data : "(journal trimmed)"};
  }

  void ExpectSame(SessionStore& store, const std::string& a, const std::string& b) {
    const Observed x = Observe(store, a), y = Observe(store, b);
    EXPECT_TRUE(x.state.BitwiseEquals(y.state));
    EXPECT_EQ(x.state.pulse_id(), y.state.pulse_id());
    EXPECT_EQ(x.digest, y.digest);
    EXPECT_EQ(x.next_logits, y.next_logits);  // bitwise
    EXPECT_EQ(x.transcript, y.transcript);
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(RewindStoreTest, RewindEqualsATwinFedTheFirstBytes) {
  SessionStoreOptions options;
  options.snapshot_interval = 8 + rng_() % 24;
  options.max_snapshot_bytes = size_t{1} << 30;  // keep every snapshot
  std::unique_ptr<SessionStore> store = OpenStore(options);
  // The session's history: its bytes and the chunks they came in.
  std::vector<uint8_t> tokens = RandomTokens(150 + rng_() % 150);
  std::vector<size_t> chunks = RandomChunks(tokens.size(), 40);
  const std::string id = store->Create("alice")->id;
  Feed(*store, id, tokens, chunks, tokens.size());

  for (int trial = 0; trial < 3; ++trial) {
    const uint64_t pulse = store->Get(id, "alice")->pulse_id;
    ASSERT_EQ(pulse, tokens.size());
    const uint64_t to = rng_() % (pulse + 1);
    SCOPED_TRACE(absl::StrCat("rewind from ", pulse, " to ", to));
    // A fork at that pulse first: the source does not move.
    const Observed before = Observe(*store, id);
    absl::StatusOr<SessionInfo> fork = store->Fork(id, "alice", to);
    ASSERT_TRUE(fork.ok()) << fork.status();
    EXPECT_EQ(fork->pulse_id, to);
    const Observed after = Observe(*store, id);
    EXPECT_TRUE(after.state.BitwiseEquals(before.state));
    EXPECT_EQ(after.digest, before.digest);

    absl::StatusOr<SessionInfo> rewound = store->Rewind(id, "alice", to);
    ASSERT_TRUE(rewound.ok()) << rewound.status();
    EXPECT_EQ(rewound->pulse_id, to);
    const std::string twin = store->Create("alice")->id;
    Feed(*store, twin, tokens, chunks, to);
    ExpectSame(*store, id, twin);
    ExpectSame(*store, fork->id, twin);

    // All three continue alike; the next trial rewinds over the new bytes.
    const std::vector<uint8_t> more = RandomTokens(20 + rng_() % 40);
    for (const std::string& s : {id, twin, fork->id}) {
      Feed(*store, s, more, {more.size()}, more.size());
    }
    ExpectSame(*store, id, twin);
    ExpectSame(*store, fork->id, twin);
    ASSERT_TRUE(store->Delete(twin, "alice").ok());
    ASSERT_TRUE(store->Delete(fork->id, "alice").ok());
    // The history is now the first `to` bytes (the chunk holding `to` cut
    // there), then `more` in one chunk.
    tokens.resize(to);
    std::vector<size_t> kept;
    for (size_t at = 0, i = 0; at < to; at += chunks[i++]) {
      kept.push_back(std::min<size_t>(chunks[i], to - at));
    }
    kept.push_back(more.size());
    chunks = kept;
    tokens.insert(tokens.end(), more.begin(), more.end());
  }
  EXPECT_EQ(store->Rewind(id, "alice", store->Get(id, "alice")->pulse_id + 1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store->Rewind(id, "bob", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Fork(id, "bob", 0).status().code(), absl::StatusCode::kNotFound);
}

class RewindStoreModesTest : public RewindStoreTest,
                            public ::testing::WithParamInterface<bool> {};

// Synchronous snapshots fall every interval exactly; background ones too
// while a spare is free.
TEST_P(RewindStoreModesTest, SnapshotsStayWithinBudgetAndTheOldestIsNamed) {
  SessionStoreOptions options;  // at most twice the state
  options.background_snapshots = GetParam();
  options.max_device_chunk_snapshots = 64;  // more than the snapshots due: never all busy
  options.snapshot_interval = 10;
  RecordingStoreObserver observer;
  options.observer = &observer;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::vector<uint8_t> tokens = RandomTokens(200);
  const std::vector<size_t> chunks = RandomChunks(tokens.size(), 7);
  // While the journal reaches back to pulse 0, any pulse is reachable
  // (replayed from the zero state).
  {
    const std::string whole = store->Create("alice")->id;
    Feed(*store, whole, tokens, chunks, tokens.size());
    ASSERT_TRUE(store->Rewind(whole, "alice", 1).ok());
    const std::string twin = store->Create("alice")->id;
    Feed(*store, twin, tokens, chunks, 1);
    ExpectSame(*store, whole, twin);
  }
  // Every snapshot that came due was reported, taken the configured way.
  const std::vector<SnapshotEvent> reported = observer.Snapshots();
  EXPECT_GE(reported.size(), tokens.size() / (options.snapshot_interval + 7));
  for (const SnapshotEvent& event : reported) {
    EXPECT_EQ(event.how, GetParam() ? SnapshotEvent::How::kSpare : SnapshotEvent::How::kDownload);
    EXPECT_GE(event.duration, absl::ZeroDuration());
  }
  // With a journal of 100 bytes, only the two newest snapshots remain.
  options.max_journal_bytes = 100;
  store = OpenStore(options);
  const std::string id = store->Create("alice")->id;
  Feed(*store, id, tokens, chunks, tokens.size());
  absl::Status refused = store->Rewind(id, "alice", 1).status();
  ASSERT_EQ(refused.code(), absl::StatusCode::kOutOfRange) << refused;
  const std::string message(refused.message());
  const size_t at = message.find("can be rewound to, ");
  ASSERT_NE(at, std::string::npos) << message;
  const uint64_t oldest = std::strtoull(message.c_str() + at + 19, nullptr, 10);
  EXPECT_GE(oldest, 100u);
  EXPECT_LE(oldest, tokens.size());
  EXPECT_GE(oldest + 2 * (options.snapshot_interval + 7), tokens.size());  // two snapshots kept
  // The oldest pulse named is reachable, and equals its twin.
  ASSERT_TRUE(store->Rewind(id, "alice", oldest).ok());
  const std::string twin = store->Create("alice")->id;
  Feed(*store, twin, tokens, chunks, oldest);
  // (The twin's journal keeps fewer bytes than it consumed, so compare its
  // state, digest and logits; both journals hold the last 100 bytes.)
  ExpectSame(*store, id, twin);
  EXPECT_EQ(store->Rewind(id, "alice", oldest - 1).status().code(),
            absl::StatusCode::kOutOfRange);
}

INSTANTIATE_TEST_SUITE_P(SyncAndBackground, RewindStoreModesTest, ::testing::Bool());

// A rewind snapshot takes a spare device state while it downloads in the
// background; with every spare busy it is not taken synchronously (which
// would stall the step) but at a later chunk end.
TEST_F(RewindStoreTest, ASnapshotDueWithEverySpareBusyWaitsForALaterChunkEnd) {
  SessionStoreOptions options;
  options.snapshot_interval = 10;
  options.max_journal_bytes = 40;  // pulse 0 soon unreachable: the oldest is a snapshot
  options.max_snapshot_bytes = size_t{1} << 30;
  options.max_device_chunk_snapshots = 1;
  options.background_snapshots = true;
  RecordingStoreObserver observer;
  options.observer = &observer;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::string busy = store->Create("alice")->id, id = store->Create("alice")->id;
  // `busy` holds the only spare: a sliced chunk keeps its roll-back
  // snapshot until its last slice (shorter than the interval, so its own
  // end takes no rewind snapshot).
  const std::vector<uint8_t> long_input = RandomTokens(8);
  SessionLease busy_lease = *store->Acquire(busy, "alice");
  SlicedChunk sliced;
  ASSERT_TRUE(store->BeginChunk(busy_lease, long_input, TokenSource::kInput, sliced).ok());

  auto oldest_reachable = [&]() -> uint64_t {
    const absl::Status refused = store->Rewind(id, "alice", 0).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kOutOfRange) << refused;
    const std::string message(refused.message());
    const size_t at = message.find("can be rewound to, ");
    EXPECT_NE(at, std::string::npos) << message;
    return std::strtoull(message.c_str() + at + 19, nullptr, 10);
  };
  const std::vector<uint8_t> tokens = RandomTokens(60);
  const std::vector<size_t> chunks(12, 5);
  Feed(*store, id, tokens, chunks, tokens.size());  // due at 10, 20, ...: no spare
  // Nothing taken: the oldest reachable pulse is the session's own.
  EXPECT_EQ(oldest_reachable(), 60u);
  // Due at every chunk end from pulse 10 on, each reported as put off.
  std::vector<SnapshotEvent> reported = observer.Snapshots();
  ASSERT_EQ(reported.size(), 11u);
  for (const SnapshotEvent& event : reported) EXPECT_EQ(event.how, SnapshotEvent::How::kDeferred);
  observer.Clear();

  // The spare comes back; the next chunk end takes the snapshot that was due.
  ChunkRequest rest{&busy_lease, sliced.remaining(), LogitsMode::kNone, nullptr};
  rest.sliced = &sliced;
  ASSERT_TRUE(store->ApplyBatch(absl::MakeSpan(&rest, 1)).ok());
  ASSERT_FALSE(sliced.active());
  busy_lease = SessionLease();
  const std::vector<uint8_t> more = RandomTokens(3);
  {
    SessionLease lease = *store->Acquire(id, "alice");
    ChunkRequest request{&lease, more, LogitsMode::kNone, nullptr};
    ASSERT_TRUE(store->ApplyBatch(absl::MakeSpan(&request, 1)).ok());
  }
  EXPECT_EQ(oldest_reachable(), 63u);
  // (63 is also the session's own pulse: the observer says it was taken.)
  reported = observer.Snapshots();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].how, SnapshotEvent::How::kSpare);
  // And a rewind to it works (its download waited for, if still running).
  ASSERT_TRUE(store->Rewind(id, "alice", 63).ok());
}

}  // namespace
}  // namespace hecate

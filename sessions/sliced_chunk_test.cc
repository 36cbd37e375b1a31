// Chunks applied in slices (SlicedChunk, the engine loop's chunked prefill)
// are still whole or not at all: the session moves only when the last slice
// is applied, equals bit for bit a twin fed the same pieces, rolls back
// completely when abandoned or when a slice fails, and a rewind into it
// replays the slices it was applied in. Chunk snapshots are device copies
// from a bounded pool or host copies; both roll back exactly.
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

class SlicedChunkTest : public ::testing::TestWithParam<size_t> {
 protected:
  SlicedChunkTest()
      : rng_(TestSeed()), model_(testing::MicroModel(rng_())), backend_(MakeCpuBackend(model_)) {
    SessionStoreOptions options;
    options.host_tier = false;
    options.snapshot_interval = 8;
    options.max_snapshot_bytes = size_t{1} << 30;
    options.max_device_chunk_snapshots = GetParam();
    store_ = *SessionStore::Open(*backend_, options);
  }

  std::vector<uint8_t> RandomTokens(size_t n) {
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    return tokens;
  }

  ModelState StateOf(const std::string& id) {
    absl::StatusOr<ExportedCheckpoint> exported = store_->Export(id, "alice");
    EXPECT_TRUE(exported.ok()) << exported.status();
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model_, exported->bytes);
    EXPECT_TRUE(state.ok()) << state.status();
    return *state;
  }

  // Applies `tokens` to session `id` as one sliced chunk in pieces of
  // `pieces` tokens; returns the next-token logits of the last piece.
  std::vector<float> FeedSliced(const std::string& id, absl::Span<const uint8_t> tokens,
                                const std::vector<size_t>& pieces) {
    SessionLease lease = *store_->Acquire(id, "alice");
    SlicedChunk chunk;
    EXPECT_TRUE(store_->BeginChunk(lease, tokens, TokenSource::kInput, chunk).ok());
    std::vector<float> logits;
    for (size_t piece : pieces) {
      EXPECT_EQ(lease.pulse_id(), store_->Get(id, "alice")->pulse_id);
      ChunkRequest request{&lease, chunk.remaining().subspan(0, piece), LogitsMode::kLast,
                           &logits};
      request.sliced = &chunk;
      EXPECT_TRUE(store_->ApplyBatch(absl::MakeSpan(&request, 1)).ok());
    }
    EXPECT_FALSE(chunk.active());
    return logits;
  }

  std::vector<size_t> RandomPieces(size_t n) {
    std::vector<size_t> pieces;
    for (size_t at = 0; at < n;) {
      pieces.push_back(std::min<size_t>(1 + rng_() % 13, n - at));
      at += pieces.back();
    }
    return pieces;
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<SessionStore> store_;
};

TEST_P(SlicedChunkTest, CountsAsOneChunkAndEqualsATwinFedThePieces) {
  const std::vector<uint8_t> tokens = RandomTokens(40 + rng_() % 40);
  const std::vector<size_t> pieces = RandomPieces(tokens.size());
  const std::string sliced = store_->Create("alice")->id;
  const std::vector<float> logits = FeedSliced(sliced, tokens, pieces);

  const std::string twin = store_->Create("alice")->id;
  {
    SessionLease lease = *store_->Acquire(twin, "alice");
    size_t at = 0;
    for (size_t piece : pieces) {
      ASSERT_TRUE(store_->ApplyChunk(lease, absl::MakeConstSpan(tokens).subspan(at, piece),
                                     LogitsMode::kNone, nullptr)
                      .ok());
      at += piece;
    }
    EXPECT_EQ(lease.next_logits(), logits);  // bitwise
  }
  EXPECT_TRUE(StateOf(sliced).BitwiseEquals(StateOf(twin)));
  const SessionInfo a = *store_->Get(sliced, "alice"), b = *store_->Get(twin, "alice");
  EXPECT_EQ(a.pulse_id, tokens.size());
  EXPECT_EQ(a.transcript_digest, b.transcript_digest);
  EXPECT_EQ(a.tokens_in, b.tokens_in);

  // A rewind into the sliced chunk replays its pieces: bit for bit the twin
  // rewound to the same pulse.
  const uint64_t to = 1 + rng_() % (tokens.size() - 1);
  SCOPED_TRACE(absl::StrCat("rewind to ", to, " of ", tokens.size()));
  ASSERT_TRUE(store_->Rewind(sliced, "alice", to).ok());
  ASSERT_TRUE(store_->Rewind(twin, "alice", to).ok());
  EXPECT_TRUE(StateOf(sliced).BitwiseEquals(StateOf(twin)));
}

TEST_P(SlicedChunkTest, AbandonedOrFailedChunksLeaveTheSessionAsItWas) {
  const std::string id = store_->Create("alice")->id;
  FeedSliced(id, RandomTokens(7), {7});
  const ModelState before = StateOf(id);
  const SessionInfo info = *store_->Get(id, "alice");
  const std::vector<uint8_t> tokens = RandomTokens(30);
  {
    SessionLease lease = *store_->Acquire(id, "alice");
    SlicedChunk chunk;
    ASSERT_TRUE(store_->BeginChunk(lease, tokens, TokenSource::kInput, chunk).ok());
    ChunkRequest request{&lease, chunk.remaining().subspan(0, 11), LogitsMode::kNone, nullptr};
    request.sliced = &chunk;
    ASSERT_TRUE(store_->ApplyBatch(absl::MakeSpan(&request, 1)).ok());
    EXPECT_EQ(chunk.applied(), 11u);
    const absl::Status abandoned = store_->AbandonChunk(lease, chunk);
    EXPECT_EQ(abandoned.code(), absl::StatusCode::kCancelled) << abandoned;
    EXPECT_NE(abandoned.message().find(absl::StrCat("unchanged at pulse id ", info.pulse_id)),
              std::string::npos)
        << abandoned;
    EXPECT_FALSE(chunk.active());

    // A slice that is not the chunk's next one is refused before anything moves.
    ASSERT_TRUE(store_->BeginChunk(lease, tokens, TokenSource::kInput, chunk).ok());
    ChunkRequest skip{&lease, chunk.remaining().subspan(3, 5), LogitsMode::kNone, nullptr};
    skip.sliced = &chunk;
    EXPECT_EQ(store_->ApplyBatch(absl::MakeSpan(&skip, 1)).code(),
              absl::StatusCode::kInvalidArgument);
    // A batch whose backend call fails (a token outside the vocabulary of a
    // second item) rolls the applied slices of the chunk back too.
    ChunkRequest first{&lease, chunk.remaining().subspan(0, 9), LogitsMode::kNone, nullptr};
    first.sliced = &chunk;
    ASSERT_TRUE(store_->ApplyBatch(absl::MakeSpan(&first, 1)).ok());
    std::vector<float> sink;
    ChunkRequest second{&lease, chunk.remaining().subspan(0, 4), LogitsMode::kAll, &sink,
                        TokenSource::kInput,
                        [](absl::Span<const uint8_t>, absl::Span<const float>) {
                          return absl::DataLossError("the rows sink failed");
                        }};
    second.sliced = &chunk;
    EXPECT_EQ(store_->ApplyBatch(absl::MakeSpan(&second, 1)).code(),
              absl::StatusCode::kDataLoss);
    EXPECT_FALSE(chunk.active());
  }
  EXPECT_TRUE(StateOf(id).BitwiseEquals(before));
  const SessionInfo after = *store_->Get(id, "alice");
  EXPECT_EQ(after.pulse_id, info.pulse_id);
  EXPECT_EQ(after.transcript_digest, info.transcript_digest);
}

// 0: every snapshot a host copy; 1: one spare device state reused; 8: a pool.
INSTANTIATE_TEST_SUITE_P(SnapshotPools, SlicedChunkTest, ::testing::Values(0, 1, 8));

}  // namespace
}  // namespace hecate

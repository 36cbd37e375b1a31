// Every session keeps its last token's logits (the distribution a scored
// chunk's first byte is scored with) through any chunk, every residency tier,
// drain and restart; a restore from a checkpoint forgets them. And
// ApplyChunkWithRows: every token's logits in slices, whole or not at all.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/session_metadata.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

// A forward pass over one chunk and over the same tokens in several chunks
// differ by float rounding (GEMMs over other row counts), never more.
void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, int what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (double{got[i]} - want[i]) * (double{got[i]} - want[i]);
    norm += double{want[i]} * want[i];
  }
  EXPECT_LE(std::sqrt(diff), 1e-5 * std::sqrt(norm)) << what;
}

class NextLogitsTest : public ::testing::Test {
 protected:
  NextLogitsTest()
      : rng_(TestSeed()),
        model_(testing::MicroModel(rng_())),
        backend_(MakeCpuBackend(model_)),
        bytes_(StateLayout(model_->config()).total_bytes()),
        dir_(TestTempPath("next-logits")) {}

  std::unique_ptr<SessionStore> OpenStore(size_t device, size_t host = 0,
                                          size_t rows_per_slice = 4096) {
    SessionStoreOptions options;
    options.device_budget_bytes = device * bytes_;
    options.host_budget_bytes = host * bytes_;
    options.host_tier = host > 0;
    options.state_dir = dir_;
    options.logit_rows_per_slice = rows_per_slice;
    return *SessionStore::Open(*backend_, options);
  }

  std::vector<uint8_t> Tokens(size_t n) {
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    return tokens;
  }

  // The session's next-token logits, read through a lease.
  std::vector<float> NextLogits(SessionStore& store, const std::string& id) {
    std::vector<float> out;
    EXPECT_TRUE(store.WithSession(id, "alice", [&](SessionLease& lease) {
      out = lease.next_logits();
      return absl::OkStatus();
    }).ok());
    return out;
  }

  // What a fresh backend state gives as the last logits of `history`.
  std::vector<float> Expected(const std::vector<uint8_t>& history) {
    auto state = *backend_->NewState();
    std::vector<float> logits;
    EXPECT_TRUE(backend_->Forward(*state, history, LogitsMode::kLast, &logits).ok());
    return logits;
  }

  absl::Status Apply(SessionStore& store, const std::string& id,
                     const std::vector<uint8_t>& tokens, LogitsMode mode) {
    std::vector<float> logits;
    return store.WithSession(id, "alice", [&](SessionLease& lease) {
      return store.ApplyChunk(lease, tokens, mode, mode == LogitsMode::kNone ? nullptr : &logits);
    });
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
  size_t bytes_;
  std::string dir_;
};

TEST_F(NextLogitsTest, EveryOutputModeKeepsTheLastRow) {
  auto store = OpenStore(/*device=*/8);
  const std::string id = store->Create("alice")->id;
  EXPECT_TRUE(NextLogits(*store, id).empty()) << "pulse 0 has no distribution";
  std::vector<uint8_t> history;
  for (LogitsMode mode : {LogitsMode::kNone, LogitsMode::kLast, LogitsMode::kAll}) {
    const std::vector<uint8_t> chunk = Tokens(1 + rng_() % 9);
    ASSERT_TRUE(Apply(*store, id, chunk, mode).ok());
    history.insert(history.end(), chunk.begin(), chunk.end());
    // Chunked here, one forward pass there: equal up to float rounding.
    ExpectNear(NextLogits(*store, id), Expected(history), static_cast<int>(mode));
  }
  // An empty chunk changes nothing, not even a bit.
  const std::vector<float> before = NextLogits(*store, id);
  ASSERT_TRUE(Apply(*store, id, {}, LogitsMode::kNone).ok());
  EXPECT_EQ(NextLogits(*store, id), before);
}

TEST_F(NextLogitsTest, BatchedChunksKeepTheLastRowToo) {
  auto store = OpenStore(/*device=*/8);
  const std::string a = store->Create("alice")->id, b = store->Create("alice")->id;
  const std::vector<uint8_t> ta = Tokens(1 + rng_() % 5), tb = Tokens(1 + rng_() % 5);
  {
    SessionLease la = *store->Acquire(a, "alice"), lb = *store->Acquire(b, "alice");
    std::vector<float> rows;
    std::vector<ChunkRequest> batch = {{&la, ta, LogitsMode::kNone, nullptr},
                                       {&lb, tb, LogitsMode::kAll, &rows}};
    ASSERT_TRUE(store->ApplyBatch(absl::MakeSpan(batch)).ok());
  }
  EXPECT_EQ(NextLogits(*store, a), Expected(ta));
  EXPECT_EQ(NextLogits(*store, b), Expected(tb));
}

TEST_F(NextLogitsTest, KeptOnEveryTierAndAcrossDrainAndRestart) {
  std::string id;
  std::vector<float> before;
  {
    auto store = OpenStore(/*device=*/1, /*host=*/1);
    id = store->Create("alice")->id;
    ASSERT_TRUE(Apply(*store, id, Tokens(5 + rng_() % 20), LogitsMode::kNone).ok());
    before = NextLogits(*store, id);
    ASSERT_FALSE(before.empty());
    // Two more sessions push it to the host tier, then to disk.
    store->Create("alice").IgnoreError();
    EXPECT_EQ(store->Get(id, "alice")->residency, Residency::kHost);
    store->Create("alice").IgnoreError();
    ASSERT_EQ(store->Get(id, "alice")->residency, Residency::kDisk);
    EXPECT_EQ(NextLogits(*store, id), before);  // back on the device
    ASSERT_TRUE(store->CheckpointAll().ok());
  }
  auto restarted = OpenStore(/*device=*/4);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->errors.empty()) << loaded->errors[0];
  EXPECT_EQ(NextLogits(*restarted, id), before);  // bit for bit, through the .meta file
}

TEST_F(NextLogitsTest, RestartDropsLogitsOfAnotherPulseId) {
  // A metadata file older than its checkpoint (its write failed after the
  // checkpoint's) must not pair stale logits with the new state.
  std::string id;
  {
    auto store = OpenStore(/*device=*/0);
    id = store->Create("alice")->id;
    ASSERT_TRUE(Apply(*store, id, Tokens(7), LogitsMode::kNone).ok());
    ASSERT_TRUE(store->CheckpointAll().ok());
  }
  const std::string meta = absl::StrCat(dir_, "/users/alice/sessions/", id, ".meta");
  std::stringstream bytes;
  bytes << std::ifstream(meta, std::ios::binary).rdbuf();
  absl::StatusOr<SessionMetadata> metadata = DecodeSessionMetadata(bytes.str());
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  ASSERT_EQ(metadata->next_logits_pulse_id, 7u);
  metadata->next_logits_pulse_id = 6;
  std::ofstream(meta, std::ios::trunc | std::ios::binary) << EncodeSessionMetadata(*metadata);
  auto restarted = OpenStore(/*device=*/4);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->loaded, 1u);
  ASSERT_EQ(loaded->errors.size(), 1u);
  EXPECT_NE(loaded->errors[0].find("pulse id 6"), std::string::npos) << loaded->errors[0];
  EXPECT_TRUE(NextLogits(*restarted, id).empty());
  EXPECT_EQ(restarted->Get(id, "alice")->pulse_id, 7u);
  EXPECT_GT(restarted->Get(id, "alice")->tokens_in, 0u) << "the rest of the metadata stays";
}

TEST_F(NextLogitsTest, RestoreFromACheckpointForgetsThem) {
  auto store = OpenStore(/*device=*/8);
  const std::string id = store->Create("alice")->id;
  ASSERT_TRUE(Apply(*store, id, Tokens(6), LogitsMode::kLast).ok());
  const std::string bytes = store->Export(id, "alice")->bytes;
  ASSERT_FALSE(NextLogits(*store, id).empty());
  absl::StatusOr<SessionInfo> copy = store->RestoreFromBytes("alice", bytes, std::nullopt);
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(NextLogits(*store, copy->id).empty());
  ASSERT_TRUE(store->RestoreFromBytes("alice", bytes, std::nullopt, id).ok());
  EXPECT_TRUE(NextLogits(*store, id).empty()) << "restored over: the state it had is gone";
}

TEST_F(NextLogitsTest, RowsComeInSlicesAndEqualOneForwardPass) {
  const size_t slice = 1 + rng_() % 7;
  auto store = OpenStore(/*device=*/8, 0, slice);
  const std::string id = store->Create("alice")->id;
  const std::vector<uint8_t> tokens = Tokens(10 + rng_() % 40);
  std::vector<float> rows;
  size_t calls = 0, seen = 0;
  ASSERT_TRUE(store->WithSession(id, "alice", [&](SessionLease& lease) {
    return store->ApplyChunkWithRows(
        lease, tokens, [&](absl::Span<const uint8_t> part, absl::Span<const float> r) {
          EXPECT_LE(part.size(), slice);
          EXPECT_EQ(part.data(), tokens.data() + seen) << "slices in order";
          seen += part.size();
          ++calls;
          rows.insert(rows.end(), r.begin(), r.end());
          return absl::OkStatus();
        });
  }).ok());
  EXPECT_EQ(calls, (tokens.size() + slice - 1) / slice);
  auto state = *backend_->NewState();
  std::vector<float> all;
  ASSERT_TRUE(backend_->Forward(*state, tokens, LogitsMode::kAll, &all).ok());
  // Slices of `slice` tokens against one forward pass: equal up to float rounding.
  ExpectNear(rows, all, 0);
  EXPECT_EQ(store->Get(id, "alice")->pulse_id, tokens.size());
  ExpectNear(NextLogits(*store, id), std::vector<float>(all.end() - 256, all.end()), 1);
}

TEST_F(NextLogitsTest, AFailedOrCancelledSlicedChunkChangesNothing) {
  auto store = OpenStore(/*device=*/8, 0, /*rows_per_slice=*/3);
  const std::string id = store->Create("alice")->id;
  ASSERT_TRUE(Apply(*store, id, Tokens(4), LogitsMode::kNone).ok());
  const std::vector<float> before = NextLogits(*store, id);
  const std::string checkpoint = store->Export(id, "alice")->bytes;
  const std::vector<uint8_t> tokens = Tokens(11);
  // The sink fails on the third slice.
  int calls = 0;
  absl::Status failed = store->WithSession(id, "alice", [&](SessionLease& lease) {
    return store->ApplyChunkWithRows(lease, tokens, [&](auto, auto) {
      return ++calls == 3 ? absl::InternalError("scorer refused") : absl::OkStatus();
    });
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  // Cancelled after the first slice.
  std::atomic<bool> cancel{false};
  absl::Status cancelled = store->WithSession(id, "alice", [&](SessionLease& lease) {
    return store->ApplyChunkWithRows(
        lease, tokens,
        [&](auto, auto) {
          cancel = true;
          return absl::OkStatus();
        },
        &cancel);
  });
  EXPECT_TRUE(absl::IsCancelled(cancelled)) << cancelled;
  EXPECT_EQ(store->Get(id, "alice")->pulse_id, 4u);
  EXPECT_EQ(store->Export(id, "alice")->bytes, checkpoint);
  EXPECT_EQ(NextLogits(*store, id), before);
}

}  // namespace
}  // namespace hecate

#include "server/step_batcher.h"

#include <thread>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

class StepBatcherTest : public ::testing::Test {
 protected:
  StepBatcherTest()
      : backend_(MakeCpuBackend(testing::SensitiveModel(testing::SmallConfig(), 9))),
        store_(*SessionStore::Open(*backend_, Options())) {}

  static SessionStoreOptions Options() {
    SessionStoreOptions o;
    o.max_sessions_per_user = 64;
    return o;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<SessionStore> store_;
};

TEST_F(StepBatcherTest, ConcurrentStepsShareBatchesAndEqualSoloSteps) {
  constexpr int kSessions = 6, kSteps = 40;
  std::vector<int> sizes;
  absl::Mutex sizes_mu;
  StepBatcher batcher(store_.get(), {.max_batch = 4, .max_wait = absl::Milliseconds(50)},
                      [&](int size) {
                        absl::MutexLock lock(&sizes_mu);
                        sizes.push_back(size);
                      });
  std::vector<std::string> batched_ids, solo_ids;
  for (int i = 0; i < kSessions; ++i) {
    batched_ids.push_back(store_->Create("u")->id);
    solo_ids.push_back(store_->Create("u")->id);
  }
  std::vector<std::vector<float>> batched_logits(kSessions), solo_logits(kSessions);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      SessionLease lease = *store_->Acquire(batched_ids[i], "u");
      StepBatcher::Participant participant(&batcher);
      const std::vector<uint8_t> tokens = testing::RandomTokens(kSteps, 100 + i);
      for (int t = 0; t < kSteps; ++t) {
        ASSERT_TRUE(batcher.Apply(ChunkRequest{&lease, absl::MakeConstSpan(&tokens[t], 1),
                                               LogitsMode::kLast, &batched_logits[i],
                                               TokenSource::kInput})
                        .ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    SessionLease lease = *store_->Acquire(solo_ids[i], "u");
    const std::vector<uint8_t> tokens = testing::RandomTokens(kSteps, 100 + i);
    for (int t = 0; t < kSteps; ++t) {
      ASSERT_TRUE(store_->ApplyChunk(lease, absl::MakeConstSpan(&tokens[t], 1), LogitsMode::kLast,
                                     &solo_logits[i]).ok());
    }
    EXPECT_EQ(batched_logits[i], solo_logits[i]) << i;  // bitwise
    EXPECT_EQ(store_->Get(batched_ids[i], "u")->pulse_id, static_cast<uint64_t>(kSteps));
  }
  int total = 0, largest = 0;
  for (int s : sizes) {
    total += s;
    largest = std::max(largest, s);
    EXPECT_LE(s, 4);
  }
  EXPECT_EQ(total, kSessions * kSteps);
  EXPECT_GT(largest, 1);  // steps really were batched
}

TEST_F(StepBatcherTest, ALoneParticipantRunsAlone) {
  std::vector<int> sizes;
  StepBatcher batcher(store_.get(), {.max_batch = 8, .max_wait = absl::Seconds(30)},
                      [&](int size) { sizes.push_back(size); });
  const std::string id = store_->Create("u")->id;
  SessionLease lease = *store_->Acquire(id, "u");
  StepBatcher::Participant participant(&batcher);
  std::vector<float> logits;
  const std::vector<uint8_t> tokens = testing::RandomTokens(5, 1);
  // With a 30 s window, finishing at all shows nobody waited for the window.
  for (uint8_t token : tokens) {
    ASSERT_TRUE(batcher.Apply(ChunkRequest{&lease, absl::MakeConstSpan(&token, 1),
                                           LogitsMode::kLast, &logits, TokenSource::kInput}).ok());
  }
  EXPECT_EQ(sizes, std::vector<int>(5, 1));
}

TEST_F(StepBatcherTest, BatchedRowsEqualSoloRowsAndKeepTheLastOne) {
  // Scored chunks take every row; the batch hands them to each chunk's sink.
  constexpr int kSessions = 4, kSteps = 10, kChunk = 3;
  StepBatcher batcher(store_.get(), {.max_batch = 4, .max_wait = absl::Milliseconds(50)},
                      nullptr);
  std::vector<std::string> batched_ids, solo_ids;
  for (int i = 0; i < kSessions; ++i) {
    batched_ids.push_back(store_->Create("u")->id);
    solo_ids.push_back(store_->Create("u")->id);
  }
  std::vector<std::vector<float>> batched_rows(kSessions), solo_rows(kSessions);
  std::vector<std::vector<float>> batched_next(kSessions);
  auto collect = [](std::vector<float>* into) -> LogitRowsSink {
    return [into](absl::Span<const uint8_t>, absl::Span<const float> rows) {
      into->insert(into->end(), rows.begin(), rows.end());
      return absl::OkStatus();
    };
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      SessionLease lease = *store_->Acquire(batched_ids[i], "u");
      StepBatcher::Participant participant(&batcher);
      const std::vector<uint8_t> tokens = testing::RandomTokens(kSteps * kChunk, 200 + i);
      std::vector<float> buffer;
      for (int t = 0; t < kSteps; ++t) {
        ASSERT_TRUE(batcher.Apply(ChunkRequest{&lease,
                                               absl::MakeConstSpan(&tokens[t * kChunk], kChunk),
                                               LogitsMode::kAll, &buffer, TokenSource::kInput,
                                               collect(&batched_rows[i])})
                        .ok());
      }
      batched_next[i] = lease.next_logits();
    });
  }
  for (auto& t : threads) t.join();
  const size_t vocab = backend_->model().config().vocab_size;
  for (int i = 0; i < kSessions; ++i) {
    SessionLease lease = *store_->Acquire(solo_ids[i], "u");
    const std::vector<uint8_t> tokens = testing::RandomTokens(kSteps * kChunk, 200 + i);
    ASSERT_TRUE(store_->ApplyChunkWithRows(lease, tokens, collect(&solo_rows[i])).ok());
    ASSERT_EQ(batched_rows[i].size(), size_t{kSteps * kChunk} * vocab);
    EXPECT_LT(testing::RelativeError(batched_rows[i], solo_rows[i]), 1e-5) << i;
    ASSERT_EQ(batched_next[i].size(), vocab);
    EXPECT_EQ(batched_next[i],
              std::vector<float>(batched_rows[i].end() - vocab, batched_rows[i].end()));
  }
}

TEST_F(StepBatcherTest, AFailingRowsSinkFailsTheBatchAndRollsItBack) {
  StepBatcher batcher(store_.get(), {}, nullptr);
  const std::string id = store_->Create("u")->id;
  SessionLease lease = *store_->Acquire(id, "u");
  StepBatcher::Participant participant(&batcher);
  const std::vector<uint8_t> tokens = testing::RandomTokens(4, 3);
  std::vector<float> buffer;
  const absl::Status status = batcher.Apply(ChunkRequest{
      &lease, tokens, LogitsMode::kAll, &buffer, TokenSource::kInput,
      [](absl::Span<const uint8_t>, absl::Span<const float>) {
        return absl::InternalError("sink refused");
      }});
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(lease.pulse_id(), 0u);
  EXPECT_TRUE(lease.next_logits().empty());
}

}  // namespace
}  // namespace hecate

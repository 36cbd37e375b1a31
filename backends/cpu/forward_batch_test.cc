// CpuBackend::ForwardBatch runs its items stacked in one pass (every item
// within one step) or in parallel: every item's logits and state must be bit
// for bit what Forward gives it alone, whatever the mix of decode and prefill
// items and however many run at once; bad batches change nothing.
#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

using testing::RandomTokens;

struct Session {
  std::unique_ptr<BackendState> state;
  std::vector<uint8_t> chunk;
  LogitsMode mode;
  std::vector<float> logits;
};

ModelState Host(Backend& backend, const BackendState& state) {
  ModelState host(backend.model().config());
  EXPECT_TRUE(backend.Download(state, host).ok());
  return host;
}

// `n` sessions with random histories (some fresh), each with a chunk to run:
// mostly one-token decodes, some prefills of 2 .. 1 + max_prefill tokens
// (past 256, the backend's step, the batch runs item by item), and with
// `empty` some empty chunks (logits of all rows or none).
std::vector<Session> RandomSessions(Backend& backend, int n, std::mt19937_64& rng,
                                    int max_prefill = 300, bool empty = false) {
  std::vector<Session> sessions(n);
  for (Session& s : sessions) {
    s.state = *backend.NewState();
    if (const size_t history = rng() % 3 == 0 ? 0 : 1 + rng() % 200; history > 0) {
      EXPECT_TRUE(
          backend.Forward(*s.state, RandomTokens(history, rng()), LogitsMode::kNone, nullptr).ok());
    }
    s.chunk = RandomTokens(rng() % 4 == 0 ? 2 + rng() % max_prefill : 1, rng());
    const LogitsMode modes[] = {LogitsMode::kLast, LogitsMode::kAll, LogitsMode::kNone};
    s.mode = rng() % 4 == 0 ? modes[rng() % 3] : LogitsMode::kLast;
    if (empty && s.mode != LogitsMode::kLast && rng() % 2 == 0) s.chunk.clear();
  }
  return sessions;
}

// Every item within one step (255 prefill tokens at most): the stacked pass.
// Then prefills past a step in the mix: the item-parallel loop.
TEST(ForwardBatchTest, BatchEqualsTheSequentialLoopBitForBit) {
  std::mt19937_64 rng(TestSeed());
  const uint64_t weights_seed = rng();
  for (const int parallelism : {-1, 0, 1, 3}) {
    SCOPED_TRACE(parallelism);
    const bool stacked = parallelism < 0;
    CpuBackendOptions options;
    options.batch_parallelism = std::max(parallelism, 0);
    auto backend = MakeCpuBackend(testing::SensitiveModel(*ModelConfig::Preset("tiny"),
                                                          weights_seed),
                                  options);
    const int n = parallelism <= 0 ? 64 : 1 + static_cast<int>(rng() % 40);
    std::vector<Session> batched = stacked ? RandomSessions(*backend, n, rng, 254, true)
                                           : RandomSessions(*backend, n, rng);
    if (!stacked) {  // at least one item past a step
      batched[rng() % n].chunk = RandomTokens(257 + rng() % 100, rng());
    }
    // The same sessions run one by one, from copies of the same states.
    std::vector<Session> alone(n);
    for (int i = 0; i < n; ++i) {
      alone[i].state = *backend->NewState();
      ASSERT_TRUE(backend->Copy(*batched[i].state, *alone[i].state).ok());
      ASSERT_TRUE(backend
                      ->Forward(*alone[i].state, batched[i].chunk, batched[i].mode,
                                &alone[i].logits)
                      .ok());
    }
    std::vector<ForwardItem> items;
    for (Session& s : batched) items.push_back({s.state.get(), s.chunk, s.mode, &s.logits});
    ASSERT_TRUE(backend->ForwardBatch(absl::MakeSpan(items)).ok());
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(batched[i].logits, alone[i].logits) << "item " << i;
      EXPECT_TRUE(Host(*backend, *batched[i].state).BitwiseEquals(Host(*backend, *alone[i].state)))
          << "item " << i;
    }
  }
}

TEST(ForwardBatchTest, ABadBatchChangesNoState) {
  std::mt19937_64 rng(TestSeed());
  auto backend = MakeCpuBackend(testing::SensitiveModel(testing::SmallConfig(), rng()));
  std::vector<Session> sessions = RandomSessions(*backend, 4, rng);
  std::vector<ModelState> before;
  for (const Session& s : sessions) before.push_back(Host(*backend, *s.state));
  auto items_of = [&] {
    std::vector<ForwardItem> items;
    for (Session& s : sessions) items.push_back({s.state.get(), s.chunk, LogitsMode::kLast, &s.logits});
    return items;
  };

  std::vector<ForwardItem> twice = items_of();
  twice[3].state = twice[0].state;  // two items on one state would race
  EXPECT_EQ(backend->ForwardBatch(absl::MakeSpan(twice)).code(), absl::StatusCode::kInvalidArgument);
  std::vector<ForwardItem> shared_logits = items_of();
  shared_logits[2].logits = shared_logits[1].logits;
  EXPECT_EQ(backend->ForwardBatch(absl::MakeSpan(shared_logits)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<ForwardItem> empty_last = items_of();
  empty_last[3].tokens = {};  // kLast of nothing: invalid, found before item 0 runs
  EXPECT_EQ(backend->ForwardBatch(absl::MakeSpan(empty_last)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<ForwardItem> null_state = items_of();
  null_state[2].state = nullptr;
  EXPECT_EQ(backend->ForwardBatch(absl::MakeSpan(null_state)).code(),
            absl::StatusCode::kInvalidArgument);
  for (size_t i = 0; i < sessions.size(); ++i) {
    EXPECT_TRUE(Host(*backend, *sessions[i].state).BitwiseEquals(before[i])) << "item " << i;
  }
  std::vector<ForwardItem> none;
  EXPECT_TRUE(backend->ForwardBatch(absl::MakeSpan(none)).ok());
}

}  // namespace
}  // namespace hecate

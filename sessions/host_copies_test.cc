// Background host copies: every scheduled download ends with the source's
// exact bytes, spares come back, Wait blocks until then, and the destructor
// finishes what is queued.
#include "sessions/host_copies.h"

#include <cstring>
#include <random>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "backends/cpu/cpu_backend.h"
#include "base/background_release.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "runtime/model.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

// A backend state holding random values (uploaded from a random host state).
std::unique_ptr<BackendState> RandomState(Backend& backend, std::mt19937_64& rng,
                                          ModelState* expected) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (float& v : expected->data()) v = value(rng);
  expected->set_pulse_id(rng() % 100000);
  std::unique_ptr<BackendState> state = *backend.NewState();
  EXPECT_TRUE(backend.Upload(*expected, *state).ok());
  return state;
}

TEST(HostCopiesTest, DownloadsEveryStateExactlyAndReturnsTheSpares) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  std::shared_ptr<const Model> model = testing::MicroModel(rng());
  std::unique_ptr<Backend> backend = MakeCpuBackend(model);

  absl::Mutex mu;
  std::vector<const BackendState*> returned;
  std::vector<ModelState> expected;
  std::vector<const BackendState*> sources;
  std::vector<std::shared_ptr<PendingHostCopy>> copies;
  {
    HostCopies host_copies(*backend, [&](std::unique_ptr<BackendState> spare) {
      absl::MutexLock lock(&mu);
      returned.push_back(spare.get());
      spare.release();  // owned by `owned` below
    });
    std::vector<std::unique_ptr<BackendState>> owned;
    constexpr int kCopies = 6;
    expected.reserve(kCopies);
    for (int i = 0; i < kCopies; ++i) {
      expected.emplace_back(model->config());
      owned.push_back(RandomState(*backend, rng, &expected.back()));
    }
    for (int i = 0; i < kCopies; ++i) {
      copies.push_back(std::make_shared<PendingHostCopy>(model->config()));
      sources.push_back(owned[i].get());
      host_copies.Schedule(std::move(owned[i]), copies.back());
    }
    // The first copy can be waited for while the others are still queued.
    absl::StatusOr<const ModelState*> first = copies[0]->Wait();
    ASSERT_TRUE(first.ok()) << first.status();
    // Leaving the scope finishes the rest before the destructor returns.
  }
  for (size_t i = 0; i < copies.size(); ++i) {
    ASSERT_TRUE(copies[i]->done()) << i;
    absl::StatusOr<const ModelState*> host = copies[i]->Wait();
    ASSERT_TRUE(host.ok()) << host.status();
    EXPECT_EQ((*host)->pulse_id(), expected[i].pulse_id()) << "seed " << seed;
    ASSERT_EQ((*host)->data().size(), expected[i].data().size());
    EXPECT_EQ(0, std::memcmp((*host)->data().data(), expected[i].data().data(),
                             expected[i].data().size() * sizeof(float)))
        << "copy " << i << " differs; seed " << seed;
    EXPECT_EQ(copies[i]->bytes(), expected[i].layout().total_bytes());
  }
  ASSERT_EQ(returned, sources) << "every spare comes back, in order";
  for (const BackendState* s : returned) delete s;
}

TEST(HostCopiesTest, AFailedDownloadFailsTheWait) {
  std::mt19937_64 rng(TestSeed());
  std::shared_ptr<const Model> model = testing::MicroModel(rng());
  std::unique_ptr<Backend> backend = MakeCpuBackend(model);
  // A host state of another config: Download refuses it.
  ModelConfig other = model->config();
  other.vocab_size += 1;
  int recycled = 0;
  auto copy = std::make_shared<PendingHostCopy>(other);
  {
    HostCopies host_copies(*backend, [&](std::unique_ptr<BackendState>) { ++recycled; });
    host_copies.Schedule(*backend->NewState(), copy);
    EXPECT_FALSE(copy->Wait().ok());
  }
  EXPECT_EQ(recycled, 1);
}

// Snapshot states come back to their pool and are reused: a reused one is
// overwritten whole by the next download (no stale byte survives), and the
// pool keeps no more than it was told.
TEST(HostCopiesTest, PooledStatesAreReusedAndOverwrittenWhole) {
  std::mt19937_64 rng(TestSeed());
  std::shared_ptr<const Model> model = testing::MicroModel(rng());
  std::unique_ptr<Backend> backend = MakeCpuBackend(model);
  const size_t max_kept = 1 + rng() % 3;
  auto pool = std::make_shared<HostStatePool>(model->config(), max_kept);
  HostCopies host_copies(*backend, [](std::unique_ptr<BackendState>) {});

  const ModelState* first_state = nullptr;
  {
    ModelState expected(model->config());
    auto copy = std::make_shared<PendingHostCopy>(model->config(), pool);
    host_copies.Schedule(RandomState(*backend, rng, &expected), copy);
    absl::StatusOr<const ModelState*> got = copy->Wait();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE((*got)->BitwiseEquals(expected));
    first_state = *got;
  }
  // The copy's state went back: when its last holder let go, which may be
  // the worker thread just after Finish woke Wait.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pool->kept() != 1u && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(pool->kept(), 1u);
  {
    ModelState expected(model->config());
    auto copy = std::make_shared<PendingHostCopy>(model->config(), pool);
    host_copies.Schedule(RandomState(*backend, rng, &expected), copy);
    absl::StatusOr<const ModelState*> got = copy->Wait();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, first_state);  // the same memory, reused
    EXPECT_TRUE((*got)->BitwiseEquals(expected));
    EXPECT_EQ(pool->kept(), 0u);
  }
  // Many dropped at once: the pool keeps max_kept of them.
  std::vector<std::unique_ptr<ModelState>> taken;
  for (size_t i = 0; i < max_kept + 3; ++i) taken.push_back(pool->Take());
  for (std::unique_ptr<ModelState>& state : taken) pool->Give(std::move(state));
  EXPECT_EQ(pool->kept(), max_kept);
  // Another config's state is not kept.
  ModelConfig other = model->config();
  other.vocab_size += 1;
  while (pool->kept() > 0) taken.push_back(pool->Take());
  pool->Give(std::make_unique<ModelState>(other));
  EXPECT_EQ(pool->kept(), 0u);
  WaitForBackgroundReleases();
}

}  // namespace
}  // namespace hecate

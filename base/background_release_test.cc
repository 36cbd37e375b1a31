#include "base/background_release.h"

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

// Records the thread its destructor ran on.
struct Tracked {
  Tracked(std::atomic<int>* destroyed, std::thread::id* where)
      : destroyed(destroyed), where(where) {}
  ~Tracked() {
    *where = std::this_thread::get_id();
    destroyed->fetch_add(1);
  }
  std::atomic<int>* destroyed;
  std::thread::id* where;
};

TEST(BackgroundReleaseTest, DestroysOnAnotherThreadAndWaitSeesIt) {
  std::atomic<int> destroyed{0};
  std::thread::id where;
  ReleaseInBackground(std::make_unique<Tracked>(&destroyed, &where));
  WaitForBackgroundReleases();
  EXPECT_EQ(destroyed.load(), 1);
  EXPECT_NE(where, std::this_thread::get_id());
}

TEST(BackgroundReleaseTest, EveryObjectFromManyThreadsIsReleasedOnce) {
  std::mt19937_64 rng(TestSeed());
  const int threads = 2 + static_cast<int>(rng() % 4);
  const int per_thread = 50 + static_cast<int>(rng() % 200);
  std::atomic<int> destroyed{0};
  std::vector<std::thread::id> where(static_cast<size_t>(threads * per_thread));
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        ReleaseInBackground(
            std::make_unique<Tracked>(&destroyed, &where[static_cast<size_t>(t * per_thread + i)]));
      }
    });
  }
  for (std::thread& p : producers) p.join();
  WaitForBackgroundReleases();
  EXPECT_EQ(destroyed.load(), threads * per_thread);
  for (const std::thread::id& id : where) EXPECT_EQ(id, where.front());  // one releasing thread
  // A null pointer is not queued.
  ReleaseInBackground(std::unique_ptr<Tracked>());
  WaitForBackgroundReleases();
  EXPECT_EQ(destroyed.load(), threads * per_thread);
}

}  // namespace
}  // namespace hecate

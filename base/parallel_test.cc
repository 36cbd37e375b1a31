// ParallelFor: every index exactly once, whatever n and grain; a
// ParallelFor nested in a chunk of a call that has a chunk for every thread
// runs inline, as one call on its caller's thread.
#include "base/parallel.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(ParallelForTest, EveryIndexExactlyOnce) {
  std::mt19937_64 rng(TestSeed());
  for (int round = 0; round < 50; ++round) {
    const int64_t n = 1 + rng() % 5000, grain = 1 + rng() % 300;
    std::vector<std::atomic<int>> hits(n);
    ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
      ASSERT_LT(begin, end);
      for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n " << n << " i " << i;
  }
}

TEST(ParallelForTest, NestedInASaturatedCallRunsInline) {
  std::mt19937_64 rng(TestSeed());
  const int64_t outer = 2 * (PoolThreads() + 1) + rng() % 16;  // a chunk per thread, or more
  const int64_t inner = 64 + rng() % 1000;
  std::mutex mu;
  int inner_calls = 0, inner_calls_elsewhere = 0;
  std::vector<std::atomic<int>> hits(outer * inner);
  ParallelFor(outer, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const std::thread::id caller = std::this_thread::get_id();
      ParallelFor(inner, 1, [&](int64_t b, int64_t e) {
        {
          std::lock_guard<std::mutex> lock(mu);
          ++inner_calls;
          if (std::this_thread::get_id() != caller) ++inner_calls_elsewhere;
        }
        EXPECT_EQ(b, 0);
        EXPECT_EQ(e, inner);
        for (int64_t i = b; i < e; ++i) hits[o * inner + i].fetch_add(1);
      });
    }
  });
  EXPECT_EQ(inner_calls, outer);
  EXPECT_EQ(inner_calls_elsewhere, 0);
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  // Outside any chunk, the same call splits again (when there are threads).
  std::atomic<int> calls{0};
  ParallelFor(inner, 1, [&](int64_t, int64_t) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load() > 1, PoolThreads() > 0);
}

}  // namespace
}  // namespace hecate

// hecatectl bench's generate mode against a real hecated: every call's
// tokens are counted, and --spread_pulses feeds session i an untimed
// (37 i mod N)-byte prompt first (the daemon's token counters say exactly
// what went in and out), so sessions decode at different pulses; the
// before_timed_run hook (--ready_file) runs once, between the two.
#include <random>
#include <string>

#include "base/test_seed.h"
#include "client/bench/bench_runner.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class BenchE2eTest : public E2eTest {
 protected:
  struct Counted {
    double in = 0;
    double out = 0;
  };
  Counted AliceTokens() {
    const std::string text = HttpGet(daemon_->http_port(), "/metrics")->body;
    return {SampleValue(text, "hecate_user_tokens_total", {{"direction", "in"}, {"user", "alice"}}),
            SampleValue(text, "hecate_user_tokens_total", {{"direction", "out"}, {"user", "alice"}})};
  }
};

TEST_F(BenchE2eTest, GenerateCountsEveryTokenAndSpreadsSessionsPulses) {
  StartDaemon();
  std::mt19937_64 rng(TestSeed());
  BenchOptions options;
  options.mode = BenchOptions::Mode::kGenerate;
  options.sessions = 3 + static_cast<int>(rng() % 4);
  options.chunk_bytes = 1 + rng() % 4;
  options.max_tokens = 2 + static_cast<int>(rng() % 6);
  options.requests_per_session = 2;
  options.seed = rng();
  for (const int spread : {0, 64}) {
    options.spread_pulses = spread;
    const Counted before = AliceTokens();
    // What had gone in and out when the timed run was about to start.
    Counted at_start;
    int started = 0;
    options.before_timed_run = [&] {
      at_start = AliceTokens();
      ++started;
    };
    const BenchReport report = RunBench(*alice_, options);
    const Counted after = AliceTokens();
    ASSERT_EQ(report.error_count(), 0) << report.first_error;
    const int calls = options.sessions * 2;
    EXPECT_EQ(report.chunks, static_cast<uint64_t>(calls));
    // Greedy calls never stop early (no stop bytes asked for).
    EXPECT_EQ(report.generated_tokens, static_cast<uint64_t>(calls * options.max_tokens));
    int spread_bytes = 0, spread_calls = 0;
    for (int i = 0; i < options.sessions && spread > 0; ++i) {
      spread_bytes += 37 * i % spread;
      spread_calls += 37 * i % spread > 0;
    }
    EXPECT_EQ(after.in - before.in,
              static_cast<double>(calls * options.chunk_bytes + spread_bytes))
        << "spread " << spread;
    EXPECT_EQ(after.out - before.out,
              static_cast<double>(calls * options.max_tokens + spread_calls))
        << "spread " << spread;
    // The hook ran once, after every spread prompt and before any timed call.
    EXPECT_EQ(started, 1);
    EXPECT_EQ(at_start.in - before.in, static_cast<double>(spread_bytes)) << "spread " << spread;
    EXPECT_EQ(at_start.out - before.out, static_cast<double>(spread_calls))
        << "spread " << spread;
  }
}

}  // namespace
}  // namespace hecate::testing

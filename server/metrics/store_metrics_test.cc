// The session store's one path to /metrics: a real SessionStore reporting to
// StoreMetrics, scraped as /metrics would be.
#include "server/metrics/store_metrics.h"

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "runtime/model_state.h"
#include "server/metrics/exposition.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/session_store.h"

namespace hecate::metrics {
namespace {

// The value of the sample line `series` (name and labels as written), or -1
// when /metrics has no such line.
double Sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  for (size_t at = 0; (at = text.find(prefix, at)) != std::string::npos; at += prefix.size()) {
    if (at == 0 || text[at - 1] == '\n') return std::strtod(text.c_str() + at + prefix.size(), nullptr);
  }
  return -1;
}

class StoreMetricsTest : public ::testing::Test {
 protected:
  StoreMetricsTest()
      : rng_(TestSeed()),
        model_(testing::MicroModel(rng_())),
        backend_(MakeCpuBackend(model_)),
        bytes_(static_cast<double>(StateLayout(model_->config()).total_bytes())) {
    metrics_ = *ServerMetrics::Create(&registry_, ServerMetricsOptions());
    observer_ = std::make_unique<StoreMetrics>(metrics_.get());
  }

  // Room for one session on the device; idle ones go to disk.
  std::unique_ptr<SessionStore> OpenStore() {
    SessionStoreOptions options;
    options.device_budget_bytes = StateLayout(model_->config()).total_bytes();
    options.host_tier = false;
    const char* tmp = std::getenv("TEST_TMPDIR");
    options.state_dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/store-", rng_());
    options.observer = observer_.get();
    return *SessionStore::Open(*backend_, options);
  }

  std::string Scrape() const { return SerializeText(metrics_->Collectables()); }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
  const double bytes_;
  prometheus::Registry registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<StoreMetrics> observer_;
};

TEST_F(StoreMetricsTest, TiersEvictionsAndCheckpointsReachTheCatalogue) {
  std::string text = Scrape();
  for (const char* tier : {"device", "host", "disk"}) {
    EXPECT_EQ(Sample(text, absl::StrCat("hecate_sessions{tier=\"", tier, "\"}")), 0) << text;
    EXPECT_EQ(Sample(text, absl::StrCat("hecate_state_bytes{tier=\"", tier, "\"}")), 0);
  }

  auto store = OpenStore();
  const std::string a = store->Create("alice")->id;
  const std::string b = store->Create("alice")->id;  // a, idle, goes to disk
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_sessions{tier=\"device\"}"), 1) << text;
  EXPECT_EQ(Sample(text, "hecate_sessions{tier=\"disk\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_sessions{tier=\"host\"}"), 0);
  EXPECT_EQ(Sample(text, "hecate_state_bytes{tier=\"device\"}"), bytes_);
  EXPECT_EQ(Sample(text, "hecate_state_bytes{tier=\"disk\"}"), bytes_);
  EXPECT_EQ(Sample(text, "hecate_session_evictions_total{from=\"device\",to=\"disk\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_duration_seconds_count{operation=\"save\"}"), 1);
  EXPECT_GT(Sample(text, "hecate_checkpoint_size_bytes_sum{operation=\"save\"}"), 0);

  // Using a reloads it from disk (a "restore" observation) and pushes b out.
  ASSERT_TRUE(store->WithSession(a, "alice", [](SessionLease&) { return absl::OkStatus(); }).ok());
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_session_evictions_total{from=\"device\",to=\"disk\"}"), 2);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_duration_seconds_count{operation=\"restore\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_duration_seconds_count{operation=\"save\"}"), 2);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_restores_total{result=\"ok\"}"), -1);  // a reload

  // Restores, each result under its label; only successes are timed.
  const std::string good = store->Export(a, "alice")->bytes;
  std::string corrupt = good;
  corrupt[rng_() % corrupt.size()] ^= 0x10;
  EXPECT_TRUE(absl::IsDataLoss(store->RestoreFromBytes("alice", corrupt, std::nullopt, a).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(store->RestoreFromBytes("alice", good, 7, a).status()));
  EXPECT_TRUE(absl::IsNotFound(store->RestoreFromName("alice", "nothing", std::nullopt).status()));
  EXPECT_TRUE(store->RestoreFromBytes("alice", good, 0, a).ok());
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_checkpoint_restores_total{result=\"data_loss\"}"), 1) << text;
  EXPECT_EQ(Sample(text, "hecate_checkpoint_restores_total{result=\"failed_precondition\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_restores_total{result=\"not_found\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_restores_total{result=\"ok\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_checkpoint_duration_seconds_count{operation=\"restore\"}"), 2);

  ASSERT_TRUE(store->Delete(a, "alice").ok());
  ASSERT_TRUE(store->Delete(b, "alice").ok());
  text = Scrape();
  for (const char* tier : {"device", "host", "disk"}) {
    EXPECT_EQ(Sample(text, absl::StrCat("hecate_sessions{tier=\"", tier, "\"}")), 0) << text;
    EXPECT_EQ(Sample(text, absl::StrCat("hecate_state_bytes{tier=\"", tier, "\"}")), 0);
  }
}

TEST_F(StoreMetricsTest, ExpiriesAndPinsReachTheCatalogue) {
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_pinned_sessions"), 0) << text;
  for (const char* result : {"deleted", "kept", "failed"}) {
    EXPECT_EQ(Sample(text, absl::StrCat("hecate_session_expiries_total{result=\"", result, "\"}")),
              0)
        << text;
  }
  auto store = OpenStore();
  CreateOptions pin;
  pin.pinned = true;
  CreateOptions keep;
  keep.keep_on_expiry = true;
  ASSERT_TRUE(store->Create("alice", "", pin).ok());
  ASSERT_TRUE(store->Create("alice", "", keep).ok());
  ASSERT_TRUE(store->Create("alice").ok());
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_pinned_sessions"), 1) << text;

  // Pinned sessions expire too: two deleted, one kept.
  const ExpiryReport report = store->ExpireIdle(absl::Hours(1), absl::Now() + absl::Hours(2));
  EXPECT_EQ(report.deleted, 2u);
  EXPECT_EQ(report.kept, 1u);
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_session_expiries_total{result=\"deleted\"}"), 2) << text;
  EXPECT_EQ(Sample(text, "hecate_session_expiries_total{result=\"kept\"}"), 1);
  EXPECT_EQ(Sample(text, "hecate_session_expiries_total{result=\"failed\"}"), 0);
  EXPECT_EQ(Sample(text, "hecate_pinned_sessions"), 0);
}

// On a full disk: the offload, the named export and the drain that could not
// write are counted by kind and code.
TEST_F(StoreMetricsTest, SaveFailuresAreCountedByKind) {
  SessionStoreOptions options;
  options.device_budget_bytes = StateLayout(model_->config()).total_bytes();
  options.host_tier = false;
  const char* tmp = std::getenv("TEST_TMPDIR");
  options.state_dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/full-", rng_());
  options.observer = observer_.get();
  options.free_space = [](const std::string&) -> absl::StatusOr<uint64_t> { return 0; };
  auto store = *SessionStore::Open(*backend_, options);
  const std::string a = store->Create("alice")->id;
  store->Create("alice").IgnoreError();  // a cannot go to disk and stays
  EXPECT_TRUE(absl::IsResourceExhausted(store->Export(a, "alice", "named").status()));
  absl::StatusOr<DrainReport> drained = store->CheckpointAll();
  ASSERT_TRUE(drained.ok()) << drained.status();
  EXPECT_EQ(drained->unsaved.size(), 2u);
  const std::string text = Scrape();
  const std::string series = "hecate_checkpoint_save_failures_total{code=\"RESOURCE_EXHAUSTED\",kind=";
  EXPECT_GE(Sample(text, series + "\"offload\"}"), 1) << text;
  EXPECT_EQ(Sample(text, series + "\"export\"}"), 1) << text;
  EXPECT_EQ(Sample(text, series + "\"drain\"}"), 2) << text;
}

// A session used again after an eviction is promoted: from disk without a
// host tier, from host memory with one; each is timed under its `from`.
TEST_F(StoreMetricsTest, PromotionsAreTimedByTier) {
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_promotion_duration_seconds_count{from=\"host\"}"), 0) << text;
  EXPECT_EQ(Sample(text, "hecate_promotion_duration_seconds_count{from=\"disk\"}"), 0);
  auto noop = [](SessionLease&) { return absl::OkStatus(); };

  auto store = OpenStore();  // one session on the device, the rest on disk
  const std::string a = store->Create("alice")->id;
  store->Create("alice").IgnoreError();  // a goes to disk
  ASSERT_TRUE(store->WithSession(a, "alice", noop).ok());
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_promotion_duration_seconds_count{from=\"disk\"}"), 1) << text;
  EXPECT_GT(Sample(text, "hecate_promotion_duration_seconds_sum{from=\"disk\"}"), 0);
  EXPECT_EQ(Sample(text, "hecate_promotion_duration_seconds_count{from=\"host\"}"), 0);

  SessionStoreOptions options;
  options.device_budget_bytes = StateLayout(model_->config()).total_bytes();
  options.host_budget_bytes = 4 * options.device_budget_bytes;
  options.host_tier = true;
  options.observer = observer_.get();
  auto hosted = *SessionStore::Open(*backend_, options);
  const std::string c = hosted->Create("bob")->id;
  hosted->Create("bob").IgnoreError();  // c goes to host memory
  ASSERT_TRUE(hosted->WithSession(c, "bob", noop).ok());
  ASSERT_TRUE(hosted->WithSession(c, "bob", noop).ok());  // already on the device
  text = Scrape();
  EXPECT_EQ(Sample(text, "hecate_promotion_duration_seconds_count{from=\"host\"}"), 1) << text;
  EXPECT_EQ(Sample(text, "hecate_promotion_duration_seconds_count{from=\"disk\"}"), 1);
}

TEST(StoreMetricsRestoreResultTest, OneLabelPerStatusCode) {
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kOk), "ok");
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kDataLoss), "data_loss");
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kFailedPrecondition),
            "failed_precondition");
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kNotFound), "not_found");
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kResourceExhausted), "other");
  EXPECT_EQ(StoreMetrics::RestoreResult(absl::StatusCode::kAborted), "other");
}

}  // namespace
}  // namespace hecate::metrics

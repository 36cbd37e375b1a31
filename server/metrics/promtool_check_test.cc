// Runs Prometheus's own parser and linter (`promtool check metrics`) over our
// exposition: the full hecated catalogue with values, plus the awkward cases
// (escapes, NaN, infinities, empty windows). Skips when promtool is absent.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/metrics/hecate_metrics.h"

namespace hecate::metrics {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, ".", getpid());
}

// Returns promtool's exit status; its output goes to *output.
int RunPromtool(const std::string& exposition, std::string* output) {
  const std::string input = TempPath("exposition.txt");
  std::ofstream(input) << exposition;
  const std::string command =
      absl::StrCat(kPromtool, " check metrics < ", input, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) *output += buffer;
  const int status = pclose(pipe);
  std::remove(input.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string HecateExposition() {
  static MetricRegistry* registry = new MetricRegistry;
  ServerMetricsOptions options;
  options.version = "test \"build\"\n\\";
  options.backend = "cpu";
  std::unique_ptr<ServerMetrics> m = *ServerMetrics::Create(registry, options);
  std::mt19937_64 rng(std::random_device{}());
  std::lognormal_distribution<double> latency(std::log(0.01), 1.5);
  for (const char* method : {"CreateSession", "Stream", "Generate"}) {
    for (const char* code : {"OK", "NOT_FOUND", "RESOURCE_EXHAUSTED"}) {
      m->ObserveRequest(method, code, latency(rng));
    }
  }
  for (int i = 0; i < 1000; ++i) {
    m->chunk_forward_duration_seconds->Observe(latency(rng));
    m->chunk_latency_seconds->Observe(latency(rng));
    m->inter_token_latency_seconds->Observe(latency(rng) / 100);
  }
  m->time_to_first_token_seconds->Observe(latency(rng));
  m->tokens_in->Increment(12345);
  m->batch_size->Observe(4);
  m->CountEviction(kTierHost, kTierDisk);
  m->CountRestore("data_loss");
  m->ObserveCheckpoint("restore", 0.1, 1e6);
  for (const char* tier : {kTierDevice, kTierHost, kTierDisk}) {
    (*m->sessions->WithLabels({tier}))->SetCallback([] { return 2.0; });
  }
  return registry->Expose();
}

std::string AwkwardExposition() {
  static MetricRegistry* registry = new MetricRegistry;
  Family<Gauge>* gauges = *registry->AddGauge(
      "awkward_values", "Help with \\ backslash\nand newline.", {"what"});
  (*gauges->WithLabels({"nan"}))->Set(std::nan(""));
  (*gauges->WithLabels({"+inf"}))->Set(std::numeric_limits<double>::infinity());
  (*gauges->WithLabels({"-inf"}))->Set(-std::numeric_limits<double>::infinity());
  (*gauges->WithLabels({"tiny"}))->Set(5e-324);
  (*gauges->WithLabels({"huge"}))->Set(1.7976931348623157e308);
  (*gauges->WithLabels({"quote\" back\\ nl\n utf8 \xc3\xa9"}))->Set(-0.1);
  // An empty summary window: quantiles are NaN.
  (void)registry->AddSummary("awkward_empty_seconds", "Empty.", {});
  (void)registry->AddHistogram("awkward_seconds", "No buckets but +Inf.", {}, {});
  return registry->Expose();
}

TEST(PromtoolCheckTest, ExpositionPassesPromtool) {
  if (access(kPromtool, X_OK) != 0) {
    std::printf("SKIPPED: promtool not installed\n");
    GTEST_SKIP() << "promtool not installed";
  }
  for (const std::string& exposition : {HecateExposition(), AwkwardExposition()}) {
    std::string output;
    const int status = RunPromtool(exposition, &output);
    EXPECT_EQ(status, 0) << "promtool says:\n" << output << "\non:\n" << exposition;
  }
}

// Guards the test itself: promtool must reject what is broken.
TEST(PromtoolCheckTest, PromtoolRejectsBrokenText) {
  if (access(kPromtool, X_OK) != 0) {
    std::printf("SKIPPED: promtool not installed\n");
    GTEST_SKIP() << "promtool not installed";
  }
  std::string output;
  EXPECT_NE(RunPromtool("# TYPE x counter\nx{a=\"unterminated} 1\n", &output), 0);
  output.clear();
  EXPECT_NE(RunPromtool("# HELP y_ms h\n# TYPE y_ms counter\ny_ms 1\n", &output), 0);
}

}  // namespace
}  // namespace hecate::metrics

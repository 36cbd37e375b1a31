#include "tests/test_util/e2e.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/test_temp_dir.h"

namespace hecate::testing {

void E2eTest::StartDaemon(std::vector<std::string> extra_flags) {
  static int counter = 0;
  const std::string tmp = TestTempRoot();
  if (state_dir_.empty()) state_dir_ = absl::StrCat(tmp, "/state-", counter++);
  keys_file_ = tmp + "/api_keys";
  // A test target may run the same suite under other server flags.
  if (const char* extra = std::getenv("HECATE_E2E_EXTRA_FLAGS"); extra != nullptr) {
    for (absl::string_view flag : absl::StrSplit(extra, ' ', absl::SkipEmpty())) {
      extra_flags.emplace_back(flag);
    }
  }
  {
    std::ofstream keys(keys_file_);
    keys << "alice:" << kAliceKey << "\nbob:" << kBobKey << "\n";
    for (const std::string& line : extra_key_lines_) keys << line << "\n";
  }
  absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
      DaemonProcess::Start({state_dir_, keys_file_, std::move(extra_flags)});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  daemon_ = *std::move(daemon);
  alice_ = Client(kAliceKey);
  bob_ = Client(kBobKey);
}

std::unique_ptr<HecateClient> E2eTest::Client(const std::string& key) const {
  ClientOptions options;
  options.target = daemon_->grpc_target();
  options.api_key = key;
  options.deadline = absl::Seconds(120);
  return *HecateClient::Connect(options);
}

v1::StreamRequest TopKRequest(const std::string& session_id, const std::string& input, int k) {
  v1::StreamRequest request;
  request.set_session_id(session_id);
  request.set_input(input);
  request.mutable_output()->mutable_top_k()->set_k(k);
  return request;
}

std::string Text(size_t bytes, uint64_t seed) {
  static const std::string corpus = [] {
    // ./hecate test passes the shared data folder when it sits beside the repo.
    if (const char* dir = std::getenv("HECATE_DATA_DIR"); dir != nullptr) {
      std::ifstream in(std::string(dir) + "/tinyshakespeare.txt");
      if (in) {
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
      }
    }
    std::string fallback;
    std::mt19937_64 rng(1);
    const char* words[] = {"the ", "king ", "shall ", "not ", "die ", "to-night, ", "my ", "lord.\n"};
    while (fallback.size() < (1 << 16)) fallback += words[rng() % 8];
    return fallback;
  }();
  std::mt19937_64 rng(seed);
  const size_t start = rng() % (corpus.size() - bytes);
  return corpus.substr(start, bytes);
}

}  // namespace hecate::testing

// Shared pieces of the end-to-end tests: a daemon with two users' keys and a
// client per user, plus small helpers for streaming text.
#ifndef HECATE_TESTS_TEST_UTIL_E2E_H_
#define HECATE_TESTS_TEST_UTIL_E2E_H_

#include <memory>
#include <string>
#include <vector>

#include "client/hecate_client.h"
#include "gtest/gtest.h"
#include "tests/test_util/daemon_process.h"

namespace hecate::testing {

inline constexpr char kAliceKey[] = "alice-key-0123456789abcdef";
inline constexpr char kBobKey[] = "bob-key-fedcba9876543210";

class E2eTest : public ::testing::Test {
 protected:
  // Starts a daemon with keys for alice and bob (plus `extra_flags`).
  void StartDaemon(std::vector<std::string> extra_flags = {});
  std::unique_ptr<HecateClient> Client(const std::string& key) const;

  std::string state_dir_;
  std::string keys_file_;
  // More lines for the key file (other users, per-user settings), written
  // after alice's and bob's by StartDaemon.
  std::vector<std::string> extra_key_lines_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<HecateClient> alice_;
  std::unique_ptr<HecateClient> bob_;
};

// A chunk request with top-k output.
v1::StreamRequest TopKRequest(const std::string& session_id, const std::string& input, int k);
// Real text: tinyshakespeare from the shared data when present, else a fixed
// pseudo-text (both deterministic per seed).
std::string Text(size_t bytes, uint64_t seed);

}  // namespace hecate::testing

#endif  // HECATE_TESTS_TEST_UTIL_E2E_H_

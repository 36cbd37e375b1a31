// DaemonProcess: a real hecated started by a test on free loopback ports,
// with its own state directory, stopped with a signal. Used by the
// end-to-end tests in tests/.
//
//   absl::StatusOr<std::unique_ptr<DaemonProcess>> d = DaemonProcess::Start(
//       {.state_dir = dir, .extra_flags = {"--max_chunk_bytes=1000"}});
//   ClientOptions o; o.target = (*d)->grpc_target();
//   ...
//   absl::StatusOr<int> exit_code = (*d)->Stop(SIGTERM);
#ifndef HECATE_TESTS_TEST_UTIL_DAEMON_PROCESS_H_
#define HECATE_TESTS_TEST_UTIL_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hecate::testing {

struct DaemonOptions {
  std::string state_dir;          // required
  std::string api_keys_file;      // empty: auth off
  std::vector<std::string> extra_flags;
};

class DaemonProcess {
 public:
  // Starts bazel's //server:hecated (from the test's runfiles) and waits
  // until its ports are bound (at most 60 s).
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(const DaemonOptions& options);
  ~DaemonProcess();  // SIGKILL if still running

  std::string grpc_target() const;
  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `signal` and waits (at most 60 s) for the exit code.
  absl::StatusOr<int> Stop(int signal);

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string log_path_;
};

// GET http://127.0.0.1:port/path: the status code and body.
struct HttpResponse {
  int status = 0;
  std::string body;
};
absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path);

// The value of one sample line of a Prometheus exposition, e.g.
// SampleValue(body, "hecate_request_duration_seconds_count", {{"method", "GetSession"}, ...}).
// 0 when the sample is absent.
double SampleValue(const std::string& exposition, const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace hecate::testing

#endif  // HECATE_TESTS_TEST_UTIL_DAEMON_PROCESS_H_

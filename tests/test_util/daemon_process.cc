#include "tests/test_util/daemon_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/test_temp_dir.h"
#include "httplib.h"

namespace hecate::testing {
namespace {

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return path;
  return absl::StrCat(srcdir, "/", workspace ? workspace : "hecate", "/", path);
}


}  // namespace

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(const DaemonOptions& options) {
  static int counter = 0;
  const std::string tag = absl::StrCat(getpid(), "-", counter++);
  const std::string port_file = absl::StrCat(TestTempRoot(), "/ports-", tag);
  auto daemon = std::make_unique<DaemonProcess>();
  daemon->log_path_ = absl::StrCat(TestTempRoot(), "/hecated-", tag, ".log");
  std::vector<std::string> args = {
      Runfile("server/hecated"),
      "--listen=127.0.0.1:0",
      "--metrics_listen=127.0.0.1:0",
      "--port_file=" + port_file,
      "--state_dir=" + options.state_dir,
      "--worker_threads=4",
      // Plumbing tests need no trained weights; a test's own --model wins (last flag).
      "--model=random:tiny",
  };
  if (!options.api_keys_file.empty()) args.push_back("--api_keys=" + options.api_keys_file);
  args.insert(args.end(), options.extra_flags.begin(), options.extra_flags.end());

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    FILE* log = std::fopen(daemon->log_path_.c_str(), "w");
    if (log != nullptr) {
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  daemon->pid_ = pid;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    std::ifstream in(port_file);
    if (in >> daemon->grpc_port_ >> daemon->http_port_) return daemon;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      daemon->pid_ = -1;
      std::ifstream log(daemon->log_path_);
      std::stringstream text;
      text << log.rdbuf();
      return absl::InternalError(absl::StrCat("hecated exited at start:\n", text.str()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("hecated did not bind its ports within 60 s");
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string DaemonProcess::grpc_target() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

absl::StatusOr<int> DaemonProcess::Stop(int signal) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, signal);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return absl::InternalError(absl::StrCat("hecated died of signal ", WTERMSIG(status)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("hecated did not exit within 60 s");
}

absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  httplib::Result result = client.Get(path.c_str());
  if (!result) return absl::UnavailableError(absl::StrCat("GET ", path, " failed"));
  return HttpResponse{result->status, result->body};
}

double SampleValue(const std::string& exposition, const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& labels) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    absl::string_view series = line.substr(0, space);
    const size_t brace = series.find('{');
    if (series.substr(0, brace) != name) continue;
    bool all = true;
    for (const auto& [key, value] : labels) {
      all &= series.find(absl::StrCat(key, "=\"", value, "\"")) != absl::string_view::npos;
    }
    if (all) return std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return 0.0;
}

}  // namespace hecate::testing

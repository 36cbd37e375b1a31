#include "server/http/http_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "httplib.h"
#include "server/metrics/exposition.h"

namespace hecate::http {
namespace {

struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;
};

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP address \"", text, "\" has no port; expected HOST:PORT"));
  }
  absl::string_view host = text.substr(0, colon);
  const absl::string_view port_text = text.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return absl::InvalidArgumentError(absl::StrCat(
          "HTTP address \"", text, "\": unterminated IPv6 literal"));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP address \"", text, "\": write IPv6 hosts as [ADDR]:PORT"));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP address \"", text,
        "\" has no host; use 127.0.0.1:PORT for loopback or 0.0.0.0:PORT for "
        "all interfaces"));
  }
  int port = -1;
  if (port_text.empty() ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP address \"", text, "\": port must be a number in [0, 65535]"));
  }
  return HostPort{std::string(host), port};
}

// httplib reports only that binding failed; bind a probe socket the same way
// to learn why (the race with another process is harmless: worst case the
// reason is generic).
std::string BindFailureReason(const HostPort& address) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* results = nullptr;
  const std::string service = std::to_string(address.port);
  if (const int gai = getaddrinfo(address.host.c_str(), service.c_str(), &hints,
                                  &results);
      gai != 0) {
    return absl::StrCat("cannot resolve host: ", gai_strerror(gai));
  }
  std::string reason = "bind failed";
  for (addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      reason = std::strerror(errno);
      continue;
    }
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    const int bound = bind(fd, ai->ai_addr, ai->ai_addrlen);
    const int bind_errno = errno;
    close(fd);
    if (bound != 0) {
      reason = bind_errno == EADDRINUSE ? "address already in use"
                                        : std::strerror(bind_errno);
      break;
    }
  }
  freeaddrinfo(results);
  return reason;
}

}  // namespace

HttpServer::HttpServer(Collectables collectables, ReadinessCheck readiness,
                       Options options)
    : collectables_(std::move(collectables)),
      readiness_(std::move(readiness)),
      options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::RegisterHandlers(httplib::Server* server) const {
  server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics::SerializeText(collectables_), metrics::kTextContentType);
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
    if (ready.ok()) {
      res.set_content("ready\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content(absl::StrCat("not ready: ", ready.message(), "\n"),
                      "text/plain; charset=utf-8");
    }
  });
}

absl::Status HttpServer::Start(absl::string_view host_port) {
  if (collectables_.empty() ||
      std::find(collectables_.begin(), collectables_.end(), nullptr) != collectables_.end()) {
    return absl::InvalidArgumentError("HttpServer needs metric collectables, none null");
  }
  if (options_.worker_threads < 1 || options_.worker_threads > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpServer worker_threads must be in [1, 64], got ",
        options_.worker_threads));
  }
  const int64_t io_seconds = absl::ToInt64Seconds(options_.io_timeout);
  if (io_seconds < 1 || io_seconds > 3600 ||
      options_.io_timeout != absl::Seconds(io_seconds)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpServer io_timeout must be whole seconds in [1s, 1h], got ",
        absl::FormatDuration(options_.io_timeout)));
  }
  HECATE_ASSIGN_OR_RETURN(HostPort address, ParseHostPort(host_port));

  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (server_ != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("HttpServer already serving on port ", port()));
  }
  auto server = std::make_unique<httplib::Server>();
  const size_t threads = static_cast<size_t>(options_.worker_threads);
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_read_timeout(static_cast<time_t>(io_seconds));
  server->set_write_timeout(static_cast<time_t>(io_seconds));
  // Short keep-alive: an idle scraper connection must not hold up Stop().
  server->set_keep_alive_timeout(1);
  // httplib's default also sets SO_REUSEPORT, which would let a second server
  // share the port silently instead of failing; keep only SO_REUSEADDR (quick
  // restarts past TIME_WAIT).
  server->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  RegisterHandlers(server.get());

  int bound_port = address.port;
  bool bound;
  if (address.port == 0) {
    bound_port = server->bind_to_any_port(address.host);
    bound = bound_port > 0;
  } else {
    bound = server->bind_to_port(address.host, address.port);
  }
  if (!bound) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen for HTTP on ", host_port, ": ",
                     BindFailureReason(address)));
  }

  // httplib's stop() is a no-op until the accept loop has marked itself
  // running, so wait for that before handing out a server that Stop() must
  // be able to stop.
  auto loop_ended = std::make_shared<std::atomic<bool>>(false);
  httplib::Server* raw = server.get();
  listener_ = std::thread([raw, loop_ended] {
    raw->listen_after_bind();
    loop_ended->store(true);
  });
  while (!raw->is_running() && !loop_ended->load()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (loop_ended->load()) {
    listener_.join();
    return absl::InternalError(
        absl::StrCat("HTTP accept loop on ", host_port, " ended at once"));
  }
  server_ = std::move(server);
  std::lock_guard<std::mutex> port_lock(port_mu_);
  port_ = bound_port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (server_ == nullptr) return;
  {
    std::lock_guard<std::mutex> port_lock(port_mu_);
    port_ = 0;
  }
  server_->stop();
  // The loop returns after its worker pool has finished every connection.
  listener_.join();
  server_.reset();
}

int HttpServer::port() const {
  std::lock_guard<std::mutex> lock(port_mu_);
  return port_;
}

bool HttpServer::running() const { return port() != 0; }

}  // namespace hecate::http

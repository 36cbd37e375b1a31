#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "server/http/http_request.h"
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

using Clock = std::chrono::steady_clock;

constexpr absl::string_view kTextPlain = "text/plain; charset=utf-8";
// epoll ids of the two descriptors that are no connection; connections count
// up from kFirstConnectionId, never reused, so a stale event cannot reach a
// newer connection on a recycled descriptor.
constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;
// How often deadlines are checked: their granularity.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
// Connections accepted per wake-up, so a connect flood cannot starve the
// connections already in.
constexpr int kAcceptBatch = 64;

// A non-blocking listening socket on `address`, or why there is none.
absl::StatusOr<int> Listen(const HostPort& address, absl::string_view host_port) {
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
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen for HTTP on ", host_port,
                     ": cannot resolve host: ", gai_strerror(gai)));
  }
  std::string reason = "no address to bind";
  int fd = -1;
  for (addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
      reason = std::strerror(errno);
      continue;
    }
    // SO_REUSEADDR for quick restarts past TIME_WAIT; never SO_REUSEPORT,
    // which would let a second server share the port silently.
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      break;
    }
    const int error = errno;
    reason = error == EADDRINUSE ? "address already in use" : std::strerror(error);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(results);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen for HTTP on ", host_port, ": ", reason));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return 0;
}

}  // namespace

// The event loop: every connection of one running server, served by the one
// thread that calls Run(). Level-triggered epoll; each connection answers one
// request at a time (pipelined requests wait in its input buffer), so its
// memory is bounded by one request head and one response.
class HttpServer::Loop {
 public:
  // Owns `listen_fd` from here on.
  Loop(const HttpServer& server, int listen_fd)
      : server_(server),
        listen_fd_(listen_fd),
        io_timeout_(absl::ToChronoNanoseconds(server.options_.io_timeout)),
        idle_timeout_(absl::ToChronoNanoseconds(server.options_.idle_timeout)),
        max_connections_(static_cast<size_t>(server.options_.max_connections)) {}
  ~Loop() {
    for (auto& [id, connection] : connections_) close(connection.fd);
    for (const int fd : {listen_fd_, epoll_fd_, wake_fd_, spare_fd_}) {
      if (fd >= 0) close(fd);
    }
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  absl::Status Init() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // Held in reserve: closed to accept-and-refuse one connection when the
    // process is out of descriptors and this server holds none to shed.
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0 || spare_fd_ < 0) {
      return absl::InternalError(
          absl::StrCat("HTTP event loop: ", std::strerror(errno)));
    }
    for (const auto& [fd, id] : {std::pair<int, uint64_t>{listen_fd_, kListenId},
                                 std::pair<int, uint64_t>{wake_fd_, kWakeId}}) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = id;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
        return absl::InternalError(
            absl::StrCat("HTTP event loop: ", std::strerror(errno)));
      }
    }
    return absl::OkStatus();
  }

  // Any thread: makes Run() return soon.
  void RequestStop() {
    stop_.store(true);
    const uint64_t one = 1;
    // A full eventfd counter still wakes the loop; nothing to handle.
    [[maybe_unused]] const ssize_t written = write(wake_fd_, &one, sizeof(one));
  }

  void Run() {
    epoll_event events[128];
    Clock::time_point next_sweep = Clock::now() + kSweepInterval;
    while (!stop_.load()) {
      // Sleep without bound while no connection has a deadline.
      const int timeout_ms =
          connections_.empty()
              ? -1
              : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     kSweepInterval)
                                     .count());
      const int ready = epoll_wait(epoll_fd_, events, 128, timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        PLOG(ERROR) << "HTTP event loop: epoll_wait failed; the HTTP port stops";
        return;
      }
      const Clock::time_point now = Clock::now();
      for (int i = 0; i < ready; ++i) {
        const uint64_t id = events[i].data.u64;
        if (id == kWakeId) {
          uint64_t count;
          [[maybe_unused]] const ssize_t got = read(wake_fd_, &count, sizeof(count));
        } else if (id == kListenId) {
          AcceptSome();
        } else if (auto it = connections_.find(id); it != connections_.end()) {
          HandleEvent(it->second, events[i].events, Clock::now());
        }
      }
      if (now >= next_sweep) {
        Sweep(now);
        next_sweep = now + kSweepInterval;
      }
    }
  }

 private:
  struct Connection {
    int fd = -1;
    uint64_t id = 0;
    std::string in;    // received, not yet answered
    std::string out;   // the response being written
    size_t sent = 0;   // bytes of `out` written
    bool close_after_write = false;
    bool peer_closed = false;  // the client sent EOF: answer what is in, then close
    uint32_t interest = 0;     // epoll events registered
    // When the current phase began: idle (nothing received or to write), a
    // request head arriving (its first byte) or a response being written.
    Clock::time_point phase_since;
    // Last byte received or sent: the order in which connections are shed.
    Clock::time_point last_activity;
  };

  // Closes `c`; it is gone afterwards. Returns false, for "c is closed".
  bool Close(Connection& c) {
    close(c.fd);
    connections_.erase(c.id);
    return false;
  }

  void AcceptSome() {
    for (int i = 0; i < kAcceptBatch; ++i) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (connections_.size() >= max_connections_) ShedOne();
        // The clock, not the wake-up's time: one batch may accept and
        // answer many connections, one after another.
        Add(fd, Clock::now());
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors (the process may hold them elsewhere): shed a
        // connection of ours and retry, or, holding none, refuse the waiting
        // one, so the level-triggered listener does not spin.
        if (!connections_.empty()) {
          ShedOne();
          continue;
        }
        RefuseOne();
        return;
      }
      PLOG(WARNING) << "HTTP accept failed";
      return;
    }
  }

  void RefuseOne() {
    if (spare_fd_ < 0) return;
    close(spare_fd_);
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) close(fd);
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  // Closes the connection that has been quiet longest, sparing responses in
  // flight while any other is left: idle keep-alive connections and stalled
  // request heads go before a scraper that is being answered.
  void ShedOne() {
    Connection* victim = nullptr;
    for (auto& [id, c] : connections_) {
      if (victim == nullptr) {
        victim = &c;
        continue;
      }
      const bool writing = !c.out.empty();
      const bool victim_writing = !victim->out.empty();
      // Ties (one wake-up) go to the older connection.
      if (writing != victim_writing
              ? !writing
              : c.last_activity < victim->last_activity ||
                    (c.last_activity == victim->last_activity && c.id < victim->id)) {
        victim = &c;
      }
    }
    if (victim != nullptr) Close(*victim);
  }

  void Add(int fd, Clock::time_point now) {
    Connection c;
    c.fd = fd;
    c.id = next_id_++;
    c.phase_since = now;
    c.last_activity = now;
    c.interest = EPOLLIN | EPOLLRDHUP;
    epoll_event event{};
    event.events = c.interest;
    event.data.u64 = c.id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      PLOG(WARNING) << "HTTP: cannot watch a connection";
      close(fd);
      return;
    }
    Connection& added = connections_.emplace(c.id, std::move(c)).first->second;
    // Read at once: a scraper's request is usually in already, so it is
    // answered before later connections could shed it.
    if (Read(added, now)) Process(added, now);
  }

  void HandleEvent(Connection& c, uint32_t events, Clock::time_point now) {
    if (events & EPOLLERR) {
      Close(c);
      return;
    }
    if (!c.out.empty()) {
      if (!Flush(c, now)) return;
    }
    if (c.out.empty() && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
      if (!Read(c, now)) return;
    }
    Process(c, now);
  }

  // Reads what the socket has. Returns false when `c` was closed.
  bool Read(Connection& c, Clock::time_point now) {
    char buffer[16384];
    while (!c.peer_closed && c.in.size() <= kMaxRequestHeadBytes) {
      const ssize_t got = recv(c.fd, buffer, sizeof(buffer), 0);
      if (got > 0) {
        if (c.in.empty()) c.phase_since = now;  // a request head begins
        c.in.append(buffer, static_cast<size_t>(got));
        c.last_activity = now;
        if (static_cast<size_t>(got) < sizeof(buffer)) break;
      } else if (got == 0) {
        c.peer_closed = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        return Close(c);  // reset by the peer
      }
    }
    return true;
  }

  // Answers the complete requests in `c.in`, one at a time, then registers
  // what `c` waits for. Returns false when `c` was closed.
  bool Process(Connection& c, Clock::time_point now) {
    while (c.out.empty() && !c.in.empty()) {
      ParseResult parsed = ParseRequestHead(c.in);
      if (parsed.kind == ParseResult::Kind::kIncomplete) break;
      if (parsed.kind == ParseResult::Kind::kBad) {
        // The stream cannot be resynchronized: answer and close.
        c.out = FormatResponse(parsed.status, kTextPlain,
                               absl::StrCat(parsed.reason, "\n"),
                               /*keep_alive=*/false, /*head_only=*/false);
        c.close_after_write = true;
        c.in.clear();
      } else {
        c.in.erase(0, parsed.consumed);
        const bool keep_alive = parsed.head.keep_alive && !c.peer_closed;
        c.out = Respond(parsed.head, keep_alive);
        c.close_after_write = !keep_alive;
      }
      c.sent = 0;
      c.phase_since = now;
      if (!Flush(c, now)) return false;
    }
    // Nothing left to answer and nothing more will come.
    if (c.out.empty() && c.peer_closed) return Close(c);
    // Reading stops while a response is pending (and after EOF, when
    // EPOLLRDHUP would fire forever).
    const uint32_t wanted = !c.out.empty() ? EPOLLOUT : (EPOLLIN | EPOLLRDHUP);
    if (wanted != c.interest) {
      epoll_event event{};
      event.events = wanted;
      event.data.u64 = c.id;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &event) != 0) return Close(c);
      c.interest = wanted;
    }
    return true;
  }

  // Writes what the socket takes of `c.out`. Returns false when `c` was
  // closed (written with Connection: close, or the peer is gone).
  bool Flush(Connection& c, Clock::time_point now) {
    while (c.sent < c.out.size()) {
      const ssize_t written =
          send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (written > 0) {
        c.sent += static_cast<size_t>(written);
        c.last_activity = now;
      } else if (written < 0 && errno == EINTR) {
        continue;
      } else if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return true;
      } else {
        return Close(c);
      }
    }
    c.out.clear();
    c.sent = 0;
    if (c.close_after_write) return Close(c);
    c.phase_since = now;  // idle, or a pipelined head that arrived meanwhile
    return true;
  }

  std::string Respond(const RequestHead& head, bool keep_alive) const {
    const bool head_only = head.method == "HEAD";
    if (head.method != "GET" && !head_only) {
      return FormatResponse(405, kTextPlain, "method not allowed\n", keep_alive, false);
    }
    if (head.path == "/metrics") {
      return FormatResponse(200, metrics::kTextContentType,
                            metrics::SerializeText(server_.collectables_),
                            keep_alive, head_only);
    }
    if (head.path == "/healthz") {
      return FormatResponse(200, kTextPlain, "ok\n", keep_alive, head_only);
    }
    if (head.path == "/readyz") {
      const absl::Status ready =
          server_.readiness_ ? server_.readiness_() : absl::OkStatus();
      if (ready.ok()) {
        return FormatResponse(200, kTextPlain, "ready\n", keep_alive, head_only);
      }
      return FormatResponse(503, kTextPlain,
                            absl::StrCat("not ready: ", ready.message(), "\n"),
                            keep_alive, head_only);
    }
    return FormatResponse(404, kTextPlain, "not found\n", keep_alive, head_only);
  }

  // Closes connections past their phase's deadline.
  void Sweep(Clock::time_point now) {
    std::vector<uint64_t> expired;
    for (const auto& [id, c] : connections_) {
      const bool idle = c.in.empty() && c.out.empty();
      if (now - c.phase_since >= (idle ? idle_timeout_ : io_timeout_)) {
        expired.push_back(id);
      }
    }
    for (const uint64_t id : expired) Close(connections_.at(id));
  }

  const HttpServer& server_;
  const int listen_fd_;
  const Clock::duration io_timeout_;
  const Clock::duration idle_timeout_;
  const size_t max_connections_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int spare_fd_ = -1;
  std::atomic<bool> stop_{false};
  uint64_t next_id_ = kFirstConnectionId;
  std::unordered_map<uint64_t, Connection> connections_;  // by id
};

HttpServer::HttpServer(Collectables collectables, ReadinessCheck readiness,
                       Options options)
    : collectables_(std::move(collectables)),
      readiness_(std::move(readiness)),
      options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(absl::string_view host_port) {
  if (collectables_.empty() ||
      std::find(collectables_.begin(), collectables_.end(), nullptr) != collectables_.end()) {
    return absl::InvalidArgumentError("HttpServer needs metric collectables, none null");
  }
  if (options_.max_connections < 1 || options_.max_connections > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HttpServer max_connections must be in [1, 65536], got ",
        options_.max_connections));
  }
  using NamedDuration = std::pair<const char*, absl::Duration>;
  for (const auto& [name, value] : {NamedDuration{"io_timeout", options_.io_timeout},
                                    NamedDuration{"idle_timeout", options_.idle_timeout}}) {
    if (value < absl::Milliseconds(1) || value > absl::Hours(1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("HttpServer ", name, " must be in [1ms, 1h], got ",
                       absl::FormatDuration(value)));
    }
  }
  HECATE_ASSIGN_OR_RETURN(HostPort address, ParseHostPort(host_port));

  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (loop_ != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("HttpServer already serving on port ", port()));
  }
  HECATE_ASSIGN_OR_RETURN(const int listen_fd, Listen(address, host_port));
  const int bound_port = BoundPort(listen_fd);
  auto loop = std::make_unique<Loop>(*this, listen_fd);
  HECATE_RETURN_IF_ERROR(loop->Init());
  Loop* raw = loop.get();
  thread_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "hecate-http");
    raw->Run();
  });
  loop_ = std::move(loop);
  std::lock_guard<std::mutex> port_lock(port_mu_);
  port_ = bound_port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (loop_ == nullptr) return;
  {
    std::lock_guard<std::mutex> port_lock(port_mu_);
    port_ = 0;
  }
  loop_->RequestStop();
  thread_.join();
  loop_.reset();  // closes every connection and the listening socket
}

int HttpServer::port() const {
  std::lock_guard<std::mutex> lock(port_mu_);
  return port_;
}

bool HttpServer::running() const { return port() != 0; }

}  // namespace hecate::http

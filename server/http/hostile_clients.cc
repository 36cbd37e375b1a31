#include "server/http/hostile_clients.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hecate::http {
namespace {

// Every slow connection sends this head, one byte at a time, and then 'a'
// forever: it never ends.
constexpr absl::string_view kSlowHead = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";

sockaddr_in LoopbackAddress(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int MillisecondsLeft(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    const int timeout = MillisecondsLeft(deadline);
    const int ready = poll(&p, 1, timeout);
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

}  // namespace

long RaiseFileLimit(long wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur != RLIM_INFINITY && static_cast<long>(limit.rlim_cur) < wanted) {
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY
                         ? static_cast<rlim_t>(wanted)
                         : std::min<rlim_t>(limit.rlim_max, static_cast<rlim_t>(wanted));
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur == RLIM_INFINITY ? wanted : static_cast<long>(limit.rlim_cur);
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in address = LoopbackAddress(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

HostileClients::~HostileClients() {
  stop_.store(true);
  if (dripper_.joinable()) dripper_.join();
  for (const int fd : idle_) close(fd);
  std::lock_guard<std::mutex> lock(slow_mu_);
  for (const int fd : slow_) close(fd);
}

absl::Status HostileClients::OpenIdle(int n) {
  for (int i = 0; i < n; ++i) {
    const int fd = ConnectLoopback(port_);
    if (fd < 0) {
      return absl::InternalError(absl::StrCat("idle connection ", idle_.size(),
                                              ": connect: ", std::strerror(errno)));
    }
    idle_.push_back(fd);
  }
  return absl::OkStatus();
}

absl::Status HostileClients::OpenSlow(int n, absl::Duration drip_interval) {
  std::vector<int> opened;
  for (int i = 0; i < n; ++i) {
    const int fd = ConnectLoopback(port_);
    if (fd < 0) {
      const int error = errno;
      for (const int o : opened) close(o);
      return absl::InternalError(
          absl::StrCat("slow connection ", i, ": connect: ", std::strerror(error)));
    }
    opened.push_back(fd);
  }
  {
    std::lock_guard<std::mutex> lock(slow_mu_);
    slow_.insert(slow_.end(), opened.begin(), opened.end());
  }
  if (!dripper_.joinable()) {
    dripper_ = std::thread([this, drip_interval] { Drip(drip_interval); });
  }
  return absl::OkStatus();
}

void HostileClients::Drip(absl::Duration interval) {
  for (size_t offset = 0; !stop_.load(); ++offset) {
    const char byte = offset < kSlowHead.size() ? kSlowHead[offset] : 'a';
    {
      std::lock_guard<std::mutex> lock(slow_mu_);
      for (const int fd : slow_) {
        // Closed or reset by the server: that is its right; keep going.
        [[maybe_unused]] const ssize_t sent =
            send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    // Pacing, not synchronisation: a slow client is slow by the clock.
    const absl::Time next = absl::Now() + interval;
    while (!stop_.load() && absl::Now() < next) {
      absl::SleepFor(std::min(absl::Milliseconds(50), next - absl::Now()));
    }
  }
}

ScrapeResult Scrape(int port, const std::string& path, absl::Duration bound) {
  ScrapeResult result;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + bound;
  auto fail = [&](int fd, std::string error) {
    if (fd >= 0) close(fd);
    result.error = std::move(error);
    result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return result;
  };
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(-1, absl::StrCat("socket: ", std::strerror(errno)));
  const sockaddr_in address = LoopbackAddress(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINPROGRESS) return fail(fd, absl::StrCat("connect: ", std::strerror(errno)));
    if (!WaitFor(fd, POLLOUT, deadline)) return fail(fd, "connect timed out");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(fd, absl::StrCat("connect: ", std::strerror(error)));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(fd, POLLOUT, deadline)) return fail(fd, "send timed out");
    } else {
      return fail(fd, absl::StrCat("send: ", std::strerror(errno)));
    }
  }
  std::string response;
  char buffer[16384];
  while (true) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      response.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(fd, POLLIN, deadline)) {
        return fail(fd, absl::StrCat("no complete response within ",
                                     absl::FormatDuration(bound), " (",
                                     response.size(), " bytes)"));
      }
    } else {
      return fail(fd, absl::StrCat("recv: ", std::strerror(errno)));
    }
  }
  close(fd);
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const size_t body_start = response.find("\r\n\r\n");
  int status = 0;
  if (response.size() < 12 || body_start == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(response).substr(9, 3), &status)) {
    result.error = absl::StrCat("malformed response: ", response.substr(0, 200));
    return result;
  }
  result.ok = true;
  result.status = status;
  result.body = response.substr(body_start + 4);
  return result;
}

}  // namespace hecate::http

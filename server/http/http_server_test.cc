#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/test_seed.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "server/http/hostile_clients.h"
#include "server/metrics/exposition.h"

namespace hecate::http {
namespace {

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(TestSeed());
    value_ = static_cast<double>(1 + rng() % 100000);
    prometheus::BuildCounter()
        .Name("test_requests_total")
        .Help("Requests.")
        .Register(registry_)
        .Add({{"code", "OK"}})
        .Increment(value_);
  }

  std::string Expose() const { return metrics::SerializeText({&registry_}); }

  absl::Status Readiness() {
    if (draining_.load()) return absl::UnavailableError("draining sessions");
    return absl::OkStatus();
  }

  prometheus::Registry registry_;
  double value_ = 0;
  std::atomic<bool> draining_{false};
};

// Raw-socket helpers for what httplib's client cannot send.
void SendAll(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

// Everything the server sends until it closes `fd`. The bound only detects a
// hang: the server closes long before it in every test.
std::string ReadUntilClosed(int fd) {
  std::string received;
  char buffer[4096];
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return received;  // EOF or reset: closed
    received.append(buffer, static_cast<size_t>(n));
  }
  ADD_FAILURE() << "the server did not close the connection; got: " << received;
  return received;
}

// True while the server has neither sent anything on `fd` nor closed it.
bool StillOpenAndQuiet(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

// Sends one keep-alive GET /healthz on `fd` and reads its whole response.
void RoundTrip(int fd) {
  SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string expected =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n";
  std::string received;
  char buffer[4096];
  while (received.size() < expected.size()) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    ASSERT_GT(n, 0) << "closed after " << received;
    received.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(received, expected);
}

TEST_F(HttpServerTest, ServesMetricsHealthAndReadiness) {
  HttpServer server({&registry_}, [this] { return Readiness(); });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);
  EXPECT_TRUE(server.running());
  httplib::Client client("127.0.0.1", server.port());

  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"),
            metrics::kTextContentType);
  EXPECT_EQ(metrics->body, Expose());
  EXPECT_NE(metrics->body.find(absl::StrCat("test_requests_total{code=\"OK\"} ",
                                            static_cast<int64_t>(value_), "\n")),
            std::string::npos)
      << metrics->body;

  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  httplib::Result ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");

  draining_.store(true);
  httplib::Result not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body, "not ready: draining sessions\n");
  // Liveness is independent of readiness.
  EXPECT_EQ(client.Get("/healthz")->status, 200);

  draining_.store(false);
  EXPECT_EQ(client.Get("/readyz")->status, 200);

  httplib::Result missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  server.Stop();
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.port(), 0);
  EXPECT_FALSE(client.Get("/healthz"));  // nothing listens any more
}

TEST_F(HttpServerTest, MetricsReflectUpdatesBetweenScrapes) {
  HttpServer server({&registry_}, nullptr);  // no check: always ready
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  httplib::Client client("127.0.0.1", server.port());
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  prometheus::BuildCounter()
      .Name("late_total")
      .Help("Registered after Start.")
      .Register(registry_)
      .Add({})
      .Increment(3);
  const std::string body = client.Get("/metrics")->body;
  EXPECT_NE(body.find("late_total 3\n"), std::string::npos) << body;
}

TEST_F(HttpServerTest, PortInUseIsAClearError) {
  HttpServer first({&registry_}, nullptr);
  ASSERT_TRUE(first.Start("127.0.0.1:0").ok());
  HttpServer second({&registry_}, nullptr);
  const absl::Status status =
      second.Start(absl::StrCat("127.0.0.1:", first.port()));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("already in use"), absl::string_view::npos)
      << status;
  EXPECT_NE(status.message().find(std::to_string(first.port())),
            absl::string_view::npos);
  EXPECT_FALSE(second.running());
  second.Stop();  // harmless on a server that never started
  // The first one is untouched.
  httplib::Client client("127.0.0.1", first.port());
  EXPECT_EQ(client.Get("/healthz")->status, 200);
}

TEST_F(HttpServerTest, BadAddressesAreRejected) {
  HttpServer server({&registry_}, nullptr);
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":9090",
                          "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
                          "[::1:0", "::1:0", "[]:0"}) {
    const absl::Status status = server.Start(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(server.running());
  }
  const absl::Status unresolvable = server.Start("no-such-host.invalid:0");
  EXPECT_EQ(unresolvable.code(), absl::StatusCode::kFailedPrecondition)
      << unresolvable;
  EXPECT_FALSE(server.running());
}

TEST_F(HttpServerTest, BadOptionsAndMissingCollectablesAreRejected) {
  HttpServer no_collectables({}, nullptr);
  EXPECT_EQ(no_collectables.Start("127.0.0.1:0").code(),
            absl::StatusCode::kInvalidArgument);
  HttpServer null_collectable({&registry_, nullptr}, nullptr);
  EXPECT_EQ(null_collectable.Start("127.0.0.1:0").code(),
            absl::StatusCode::kInvalidArgument);
  HttpServer::Options options;
  options.max_connections = 0;
  EXPECT_EQ(HttpServer({&registry_}, nullptr, options).Start("127.0.0.1:0").code(),
            absl::StatusCode::kInvalidArgument);
  options = HttpServer::Options();
  options.io_timeout = absl::ZeroDuration();
  EXPECT_EQ(HttpServer({&registry_}, nullptr, options).Start("127.0.0.1:0").code(),
            absl::StatusCode::kInvalidArgument);
  options = HttpServer::Options();
  options.idle_timeout = absl::Hours(2);
  EXPECT_EQ(HttpServer({&registry_}, nullptr, options).Start("127.0.0.1:0").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, StartTwiceFailsStopIsIdempotentAndRestartWorks) {
  HttpServer server({&registry_}, nullptr);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  EXPECT_EQ(server.Start("127.0.0.1:0").code(),
            absl::StatusCode::kFailedPrecondition);
  server.Stop();
  server.Stop();
  ASSERT_TRUE(server.Start("localhost:0").ok());
  httplib::Client client("localhost", server.port());
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  // Concurrent Stop calls: both return, the server is stopped once.
  std::thread a([&] { server.Stop(); });
  std::thread b([&] { server.Stop(); });
  a.join();
  b.join();
  EXPECT_FALSE(server.running());
}

// An idle client holding a connection open must not block Stop for long.
// (Reports the time; no timing assertion.)
TEST_F(HttpServerTest, StopWithIdleConnectionReturns) {
  HttpServer server({&registry_}, nullptr);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  const auto start = std::chrono::steady_clock::now();
  server.Stop();
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  std::printf("Stop() with an idle open connection took %.3f s\n", seconds);
  close(fd);
  EXPECT_FALSE(server.running());
}

TEST_F(HttpServerTest, ServesConcurrentClients) {
  HttpServer server({&registry_}, nullptr);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  const std::string expected = Expose();
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&] {
      httplib::Client client("127.0.0.1", server.port());
      for (int i = 0; i < 20; ++i) {
        httplib::Result result = client.Get("/metrics");
        if (result && result->status == 200 && result->body == expected) ++good;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(good.load(), 120);
}

TEST_F(HttpServerTest, HeadPipeliningMethodsAndMalformedRequests) {
  HttpServer server({&registry_}, nullptr);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());

  // Two requests in one write, the second closing: two answers, then EOF.
  int fd = ConnectLoopback(server.port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "HEAD /metrics HTTP/1.1\r\n\r\nPOST /healthz HTTP/1.1\r\n"
              "Connection: close\r\n\r\n");
  const std::string both = ReadUntilClosed(fd);
  close(fd);
  const std::string metrics_head = absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Type: ", metrics::kTextContentType,
      "\r\nContent-Length: ", Expose().size(), "\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(both.substr(0, metrics_head.size()), metrics_head);  // HEAD: no body
  EXPECT_EQ(both.substr(metrics_head.size(), 25), "HTTP/1.1 405 Method Not A");

  // HTTP/1.0 without keep-alive: answered, then closed.
  fd = ConnectLoopback(server.port());
  SendAll(fd, "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_NE(ReadUntilClosed(fd).find("Connection: close\r\n\r\nok\n"), std::string::npos);
  close(fd);

  // Garbage: 400, then closed.
  fd = ConnectLoopback(server.port());
  SendAll(fd, "\x16\x03\x01 not http\r\n\r\n");
  EXPECT_EQ(ReadUntilClosed(fd).substr(0, 24), "HTTP/1.1 400 Bad Request");
  close(fd);
}

// At the cap, a new connection sheds the one quiet longest; the others and
// the newcomer are served.
TEST_F(HttpServerTest, ShedsTheQuietestConnectionAtTheCap) {
  HttpServer::Options options;
  options.max_connections = 3;
  HttpServer server({&registry_}, nullptr, options);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  // A, B, C in turn: each round trip proves the server took it and orders
  // their last activity.
  int fds[3];
  for (int& fd : fds) {
    fd = ConnectLoopback(server.port());
    ASSERT_GE(fd, 0);
    RoundTrip(fd);
  }
  // B is busy again (half a request head): now A is the quietest.
  SendAll(fds[1], "GET /hea");

  const int newcomer = ConnectLoopback(server.port());
  ASSERT_GE(newcomer, 0);
  RoundTrip(newcomer);
  EXPECT_EQ(ReadUntilClosed(fds[0]), "");  // A was shed
  EXPECT_TRUE(StillOpenAndQuiet(fds[2]));
  SendAll(fds[1], "lthz HTTP/1.1\r\n\r\n");
  char buffer[256];
  EXPECT_GT(recv(fds[1], buffer, sizeof(buffer), 0), 0);  // B still served
  RoundTrip(fds[2]);
  for (const int fd : {fds[0], fds[1], fds[2], newcomer}) close(fd);
}

TEST_F(HttpServerTest, StalledHeadsAndIdleConnectionsAreClosed) {
  HttpServer::Options options;
  options.io_timeout = absl::Milliseconds(200);
  options.idle_timeout = absl::Milliseconds(300);
  HttpServer server({&registry_}, nullptr, options);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  const int stalled = ConnectLoopback(server.port());
  const int idle = ConnectLoopback(server.port());
  const int kept = ConnectLoopback(server.port());
  ASSERT_GE(stalled, 0);
  ASSERT_GE(idle, 0);
  ASSERT_GE(kept, 0);
  SendAll(stalled, "GET /metrics HTTP/1.1\r\nHost:");
  RoundTrip(kept);  // then idle too
  EXPECT_EQ(ReadUntilClosed(stalled), "");
  EXPECT_EQ(ReadUntilClosed(idle), "");
  EXPECT_EQ(ReadUntilClosed(kept), "");
  for (const int fd : {stalled, idle, kept}) close(fd);
  // The server itself is fine.
  httplib::Client client("127.0.0.1", server.port());
  EXPECT_EQ(client.Get("/healthz")->status, 200);
}

}  // namespace
}  // namespace hecate::http

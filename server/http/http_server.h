// HttpServer: the operator's HTTP port of hecated.
//
//   GET /metrics  200, the Prometheus text exposition (format 0.0.4,
//                 Content-Type text/plain; version=0.0.4; charset=utf-8) of
//                 the collectables, written by prometheus-cpp's TextSerializer
//   GET /healthz  200 "ok" while the process runs (liveness)
//   GET /readyz   200 "ready" when the readiness check returns OK; 503
//                 "not ready: <reason>" otherwise, e.g. while draining
//   anything else 404
//
// Promises: Start() binds before it returns, so a client may connect as soon
// as it returns OK; a bad address is InvalidArgument, an address in use (or
// not bindable) is FailedPrecondition naming the address and the OS reason,
// and a failed Start leaves the server stopped. Port 0 binds a free port,
// reported by port().
//
// Idle and slow clients cannot starve a scrape: one thread multiplexes every
// connection with epoll (no thread is ever parked on one client), a request
// head must arrive within Options::io_timeout of its first byte, a connection
// with no request in progress is closed after Options::idle_timeout, and at
// most Options::max_connections are held: accepting one more closes the
// connection that has waited longest without a request in progress (idle
// ones first, then slow request heads, a response being written last), so a
// new scraper is always accepted and answered as soon as its request is in.
// The server holds at most max_connections + 5 file descriptors.
//
// Requests run on that one thread of the server's, never on the caller's;
// the readiness check and the collectables (a prometheus::Registry) run
// there and must be thread-safe and quick. HTTP/1.0 and 1.1, keep-alive and
// pipelining; GET and HEAD (others 405); a request with a body is answered
// 400 and its connection closed. Stop() is idempotent, prompt (it closes
// every connection at once, whatever the clients do) and returns once no
// handler runs any more. The destructor stops. Start() after Stop() starts
// afresh.
//
//   HttpServer http({&registry}, [&] { return draining ? absl::UnavailableError(
//                                       "draining") : absl::OkStatus(); });
//   absl::Status started = http.Start("127.0.0.1:9090");
//   ...
//   http.Stop();
#ifndef HECATE_SERVER_HTTP_HTTP_SERVER_H_
#define HECATE_SERVER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"

namespace hecate::http {

class HttpServer {
 public:
  struct Options {
    // Connections held at once, in [1, 65536]. Far below the process's file
    // limit, so the metrics port can never take the gRPC port's descriptors.
    int max_connections = 128;
    // A request head must be complete within this of its first byte, and a
    // response written within this of its first byte; in [1 ms, 1 h].
    absl::Duration io_timeout = absl::Seconds(5);
    // A connection with no request in progress is closed after this (keep-
    // alive between scrapes); in [1 ms, 1 h].
    absl::Duration idle_timeout = absl::Seconds(30);
  };
  // OK means ready; any other status means not ready, its message the reason.
  using ReadinessCheck = std::function<absl::Status()>;

  // What /metrics serves, in order; each must outlive the server, none may be
  // null.
  using Collectables = std::vector<const prometheus::Collectable*>;

  // An empty `readiness` means always ready.
  HttpServer(Collectables collectables, ReadinessCheck readiness, Options options);
  HttpServer(Collectables collectables, ReadinessCheck readiness)
      : HttpServer(std::move(collectables), std::move(readiness), Options()) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `host_port`: "127.0.0.1:9090", "0.0.0.0:0", "localhost:9090", "[::1]:9090".
  absl::Status Start(absl::string_view host_port);
  void Stop();

  // The bound port while running, else 0.
  int port() const;
  bool running() const;

 private:
  class Loop;  // the epoll loop and its connections (http_server.cc)

  const Collectables collectables_;
  const ReadinessCheck readiness_;
  const Options options_;

  // std::mutex, not absl::Mutex: Debian's absl is not built with TSan.
  // Serializes Start and Stop (held while Stop joins the loop thread, so a
  // second Stop returns only when the first is done).
  std::mutex lifecycle_mu_;
  std::unique_ptr<Loop> loop_;  // guarded by lifecycle_mu_
  std::thread thread_;          // guarded by lifecycle_mu_; runs loop_
  // Separate, so port() never waits for a Stop in progress.
  mutable std::mutex port_mu_;
  int port_ = 0;  // guarded by port_mu_
};

}  // namespace hecate::http

#endif  // HECATE_SERVER_HTTP_HTTP_SERVER_H_

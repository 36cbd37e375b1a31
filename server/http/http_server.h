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
// reported by port(). Requests run on a small pool of its own threads
// (Options::worker_threads), never on the caller's. Stop() is idempotent,
// returns once no handler runs any more, and is prompt: it waits at most
// ~Options::io_timeout for a client caught mid-request, and ~1 s for an idle
// keep-alive connection. The destructor stops. Start() after Stop() starts
// afresh. The readiness check and the collectables (a prometheus::Registry)
// run on the server's threads and must be thread-safe.
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

namespace httplib {
class Server;
}  // namespace httplib

namespace hecate::http {

class HttpServer {
 public:
  struct Options {
    // Threads serving requests; in [1, 64].
    int worker_threads = 2;
    // Read and write timeout of one request, in whole seconds >= 1 (httplib
    // granularity for a clean bound); bounds how long Stop() may wait.
    absl::Duration io_timeout = absl::Seconds(2);
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
  void RegisterHandlers(httplib::Server* server) const;

  const Collectables collectables_;
  const ReadinessCheck readiness_;
  const Options options_;

  // std::mutex, not absl::Mutex: Debian's absl is not built with TSan.
  // Serializes Start and Stop (held while Stop joins the listener, so a
  // second Stop returns only when the first is done).
  std::mutex lifecycle_mu_;
  std::unique_ptr<httplib::Server> server_;  // guarded by lifecycle_mu_
  std::thread listener_;  // guarded by lifecycle_mu_
  // Separate, so port() never waits for a Stop in progress.
  mutable std::mutex port_mu_;
  int port_ = 0;  // guarded by port_mu_
};

}  // namespace hecate::http

#endif  // HECATE_SERVER_HTTP_HTTP_SERVER_H_

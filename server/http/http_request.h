// The HTTP/1.x wire format of hecated's operator port, as pure functions:
// parsing a request head out of a connection's read buffer and formatting a
// complete response. No I/O and no state, so the event loop (http_server.cc)
// stays small and the parser is tested on its own (http_request_test.cc).
//
// Promises: ParseRequestHead never reads past `buffer`, never allocates more
// than the head it returns, and classifies every input as incomplete,
// complete or bad. A head is bad when it is larger than kMaxRequestHeadBytes,
// when its request line is not METHOD SP TARGET SP HTTP/1.x, or when it
// announces a body (this port serves GET and HEAD only, and a body it does not
// read would be taken for the next request).
#ifndef HECATE_SERVER_HTTP_HTTP_REQUEST_H_
#define HECATE_SERVER_HTTP_HTTP_REQUEST_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace hecate::http {

// Request line plus headers; real scrapers send a few hundred bytes.
inline constexpr size_t kMaxRequestHeadBytes = 8192;

struct RequestHead {
  std::string method;  // as sent, e.g. "GET"
  std::string path;    // the target without its query, e.g. "/metrics"
  // HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 closes
  // it unless "Connection: keep-alive".
  bool keep_alive = false;
};

struct ParseResult {
  enum class Kind { kIncomplete, kComplete, kBad };
  Kind kind = Kind::kIncomplete;
  RequestHead head;      // kComplete
  size_t consumed = 0;   // kComplete: bytes of `buffer` the head took
  int status = 0;        // kBad: the status to answer before closing
  std::string reason;    // kBad: why, for the response body
};

// Looks for one complete request head at the start of `buffer`. Lines end in
// CRLF or a bare LF; empty lines before the request line are skipped (RFC
// 9112 section 2.2).
ParseResult ParseRequestHead(absl::string_view buffer);

// A complete response: status line, Content-Type, Content-Length, Connection
// and, unless `head_only` (a HEAD request), the body.
std::string FormatResponse(int status, absl::string_view content_type,
                           absl::string_view body, bool keep_alive,
                           bool head_only);

}  // namespace hecate::http

#endif  // HECATE_SERVER_HTTP_HTTP_REQUEST_H_

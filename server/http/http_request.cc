#include "server/http/http_request.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hecate::http {
namespace {

ParseResult Bad(int status, std::string reason) {
  ParseResult result;
  result.kind = ParseResult::Kind::kBad;
  result.status = status;
  result.reason = std::move(reason);
  return result;
}

bool IsToken(absl::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 || absl::string_view("()<>@,;:\\\"/[]?={}").find(c) !=
                                   absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace

ParseResult ParseRequestHead(absl::string_view buffer) {
  // Skip empty lines before the request line (clients may send a CRLF after a
  // previous request).
  size_t start = 0;
  while (start < buffer.size()) {
    if (buffer[start] == '\n') {
      ++start;
    } else if (buffer[start] == '\r' && start + 1 < buffer.size() &&
               buffer[start + 1] == '\n') {
      start += 2;
    } else {
      break;
    }
  }
  // Find the empty line that ends the head.
  std::vector<absl::string_view> lines;
  size_t pos = start;
  size_t end = absl::string_view::npos;
  while (pos < buffer.size()) {
    const size_t newline = buffer.find('\n', pos);
    if (newline == absl::string_view::npos) break;
    absl::string_view line = buffer.substr(pos, newline - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = newline + 1;
    if (line.empty()) {
      end = pos;
      break;
    }
    lines.push_back(line);
  }
  if (end == absl::string_view::npos) {
    if (buffer.size() > kMaxRequestHeadBytes) {
      return Bad(431, "request head too large");
    }
    return ParseResult();  // incomplete
  }
  if (end > kMaxRequestHeadBytes) return Bad(431, "request head too large");

  const std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty()) {
    return Bad(400, "malformed request line");
  }
  const absl::string_view version = parts[2];
  if (!absl::StartsWith(version, "HTTP/")) {
    return Bad(400, "malformed request line");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Bad(505, "only HTTP/1.0 and HTTP/1.1 are served");
  }

  ParseResult result;
  result.kind = ParseResult::Kind::kComplete;
  result.consumed = end;
  result.head.method = std::string(parts[0]);
  absl::string_view target = parts[1];
  // Absolute form (proxies): keep only the path.
  for (absl::string_view scheme : {"http://", "https://"}) {
    if (absl::StartsWithIgnoreCase(target, scheme)) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find('/');
      target = slash == absl::string_view::npos ? absl::string_view("/")
                                                : target.substr(slash);
    }
  }
  if (target.front() != '/' && target != "*") {
    return Bad(400, "malformed request target");
  }
  result.head.path = std::string(target.substr(0, target.find_first_of("?#")));

  bool close = false;
  bool keep_alive_token = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      // Also refuses obsolete line folding (a line starting with whitespace).
      return Bad(400, "malformed header line");
    }
    const absl::string_view name = line.substr(0, colon);
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t length = 0;
      if (!absl::SimpleAtoi(value, &length)) {
        return Bad(400, "malformed Content-Length");
      }
      if (length != 0) return Bad(400, "request bodies are not accepted");
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return Bad(400, "request bodies are not accepted");
    } else if (absl::EqualsIgnoreCase(name, "Connection")) {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) close = true;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) keep_alive_token = true;
      }
    }
  }
  result.head.keep_alive = version == "HTTP/1.1" ? !close : keep_alive_token && !close;
  return result;
}

std::string FormatResponse(int status, absl::string_view content_type,
                           absl::string_view body, bool keep_alive,
                           bool head_only) {
  std::string response = absl::StrCat(
      "HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\nContent-Type: ",
      content_type, "\r\nContent-Length: ", body.size(),
      "\r\nConnection: ", keep_alive ? "keep-alive" : "close", "\r\n");
  if (status == 405) absl::StrAppend(&response, "Allow: GET, HEAD\r\n");
  absl::StrAppend(&response, "\r\n");
  if (!head_only) absl::StrAppend(&response, body);
  return response;
}

}  // namespace hecate::http

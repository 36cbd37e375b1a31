#include "server/http/http_request.h"

#include <string>

#include "gtest/gtest.h"

namespace hecate::http {
namespace {

using Kind = ParseResult::Kind;

TEST(ParseRequestHeadTest, CompleteGetWithHeadersAndQuery) {
  const std::string wire =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nNEXT";
  const ParseResult r = ParseRequestHead(wire);
  ASSERT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(r.head.method, "GET");
  EXPECT_EQ(r.head.path, "/metrics");
  EXPECT_TRUE(r.head.keep_alive);
  EXPECT_EQ(wire.substr(r.consumed), "NEXT");  // a pipelined request stays
}

TEST(ParseRequestHeadTest, EveryPrefixIsIncomplete) {
  const std::string wire = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t n = 0; n < wire.size(); ++n) {
    EXPECT_EQ(ParseRequestHead(wire.substr(0, n)).kind, Kind::kIncomplete) << n;
  }
  EXPECT_EQ(ParseRequestHead(wire).kind, Kind::kComplete);
}

TEST(ParseRequestHeadTest, KeepAliveRules) {
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(
      ParseRequestHead("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n").head.keep_alive);
}

TEST(ParseRequestHeadTest, BareLineFeedsLeadingBlankLinesAndAbsoluteForm) {
  const ParseResult r = ParseRequestHead("\r\n\nHEAD http://h:1/readyz HTTP/1.1\nA: b\n\n");
  ASSERT_EQ(r.kind, Kind::kComplete);
  EXPECT_EQ(r.head.method, "HEAD");
  EXPECT_EQ(r.head.path, "/readyz");
}

TEST(ParseRequestHeadTest, BadHeads) {
  struct Case {
    const char* wire;
    int status;
  };
  for (const Case& c : {Case{"GARBAGE\r\n\r\n", 400},
                        Case{"GET /  HTTP/1.1\r\n\r\n", 400},
                        Case{"GET metrics HTTP/1.1\r\n\r\n", 400},
                        Case{"GET / HTTP/2.0\r\n\r\n", 505},
                        Case{"GET / FTP/1.1\r\n\r\n", 400},
                        Case{"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400},
                        Case{"GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400},
                        Case{"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400},
                        Case{"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400},
                        Case{"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400}}) {
    const ParseResult r = ParseRequestHead(c.wire);
    EXPECT_EQ(r.kind, Kind::kBad) << c.wire;
    EXPECT_EQ(r.status, c.status) << c.wire;
    EXPECT_FALSE(r.reason.empty());
  }
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").kind,
            Kind::kComplete);
}

TEST(ParseRequestHeadTest, OversizedHeadsAreRefusedWhetherEndedOrNot) {
  const std::string big_header = "X: " + std::string(kMaxRequestHeadBytes, 'a');
  const ParseResult unended = ParseRequestHead("GET / HTTP/1.1\r\n" + big_header);
  EXPECT_EQ(unended.kind, Kind::kBad);
  EXPECT_EQ(unended.status, 431);
  const ParseResult ended =
      ParseRequestHead("GET / HTTP/1.1\r\n" + big_header + "\r\n\r\n");
  EXPECT_EQ(ended.kind, Kind::kBad);
  EXPECT_EQ(ended.status, 431);
  // Endless blank lines are bounded too.
  EXPECT_EQ(ParseRequestHead(std::string(kMaxRequestHeadBytes + 2, '\n')).kind, Kind::kBad);
}

TEST(FormatResponseTest, HeadersBodyAndHead) {
  EXPECT_EQ(FormatResponse(200, "text/plain", "ok\n", true, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: keep-alive\r\n\r\nok\n");
  EXPECT_EQ(FormatResponse(503, "text/plain", "no\n", false, true),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            "Content-Length: 3\r\nConnection: close\r\n\r\n");
  EXPECT_NE(FormatResponse(405, "t", "", true, false).find("Allow: GET, HEAD\r\n"),
            std::string::npos);
}

}  // namespace
}  // namespace hecate::http

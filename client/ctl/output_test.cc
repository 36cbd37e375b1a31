#include "client/ctl/output.h"

#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(QuoteTokenTest, EveryByteRoundTripsThroughCUnescape) {
  for (uint32_t token = 0; token < 256; ++token) {
    const std::string quoted = QuoteToken(token);
    ASSERT_GE(quoted.size(), 3u);
    ASSERT_EQ(quoted.front(), '\'');
    ASSERT_EQ(quoted.back(), '\'');
    std::string unescaped;
    ASSERT_TRUE(absl::CUnescape(quoted.substr(1, quoted.size() - 2), &unescaped)) << quoted;
    EXPECT_EQ(unescaped, std::string(1, static_cast<char>(token))) << quoted;
  }
  EXPECT_EQ(QuoteToken('a'), "'a'");
  EXPECT_EQ(QuoteToken('\n'), "'\\n'");
  EXPECT_EQ(QuoteToken(300), "<token 300>");
}

TEST(HumanBytesTest, PicksTheUnit) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(int64_t{5} << 20), "5.0 MiB");
  EXPECT_EQ(HumanBytes(int64_t{3} << 30), "3.0 GiB");
}

TEST(EnumNamesTest, ShortLowerCaseNames) {
  EXPECT_EQ(ResidencyName(v1::RESIDENCY_DEVICE), "device");
  EXPECT_EQ(ResidencyName(v1::RESIDENCY_DISK), "disk");
  EXPECT_EQ(FinishReasonName(v1::FINISH_REASON_STOP_BYTE), "stop_byte");
  EXPECT_EQ(FinishReasonName(static_cast<v1::FinishReason>(99)), "unknown");
}

TEST(SessionJsonTest, CarriesEveryFieldAsNumbers) {
  std::mt19937_64 random{std::random_device()()};
  v1::Session session;
  session.set_id("0123456789abcdef0123456789abcdef");
  session.set_pulse_id(random() >> 12);  // exact in a double
  session.set_state_bytes(static_cast<int64_t>(random() >> 40));
  session.set_tokens_in(random() >> 20);
  session.set_residency(v1::RESIDENCY_HOST);
  session.mutable_create_time()->set_seconds(1795000000);
  const nlohmann::json json = SessionToJson(session);
  EXPECT_EQ(json["id"], session.id());
  EXPECT_EQ(json["pulse_id"].get<uint64_t>(), session.pulse_id());
  EXPECT_EQ(json["state_bytes"].get<int64_t>(), session.state_bytes());
  EXPECT_EQ(json["tokens_in"].get<uint64_t>(), session.tokens_in());
  EXPECT_EQ(json["residency"], "host");
  EXPECT_EQ(json["create_time"], "2026-11-18T11:06:40Z");
  EXPECT_EQ(json["last_use_time"], "-");
  EXPECT_EQ(json["keep_on_expiry"], false);
  EXPECT_EQ(json["pinned"], false);
}

TEST(DumpJsonTest, InvalidUtf8IsReplacedNotThrown) {
  const std::string bytes("ok \xff\xfe end", 9);
  const std::string dumped = DumpJson(nlohmann::json{{"text", bytes}});
  EXPECT_NE(dumped.find("ok "), std::string::npos);
  EXPECT_NE(dumped.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
}

TEST(FormatTopKTest, QuotedTokensWithLogProbs) {
  v1::ChunkDone done;
  v1::TokenLogProb* first = done.add_top_k();
  first->set_token(' ');
  first->set_logprob(-0.5f);
  v1::TokenLogProb* second = done.add_top_k();
  second->set_token('\n');
  second->set_logprob(-1.25f);
  EXPECT_EQ(FormatTopK(done.top_k()), "' ' -0.500  '\\n' -1.250");
}

// The GEMM mode shows beside the backend unless it is fp32; a server older
// than ModelInfo.gemm is read from its tf32 flag.
TEST(ModelInfoTest, ShowsTheGemmMode) {
  v1::ModelInfo info;
  info.set_backend("cuda");
  info.set_weight_format("fp32");
  info.set_gemm("3xtf32");
  EXPECT_NE(DescribeModelInfo(info).find("backend:      cuda (3xtf32)\n"), std::string::npos);
  EXPECT_EQ(ModelInfoToJson(info)["gemm"], "3xtf32");
  EXPECT_EQ(ModelInfoToJson(info)["tf32"], false);
  info.set_gemm("fp32");
  EXPECT_NE(DescribeModelInfo(info).find("backend:      cuda\n"), std::string::npos);
  info.clear_gemm();
  info.set_tf32(true);
  info.set_weight_format("bf16");
  EXPECT_NE(DescribeModelInfo(info).find("backend:      cuda (tf32, bf16 weights)\n"),
            std::string::npos);
  EXPECT_EQ(ModelInfoToJson(info)["gemm"], "tf32");
}

}  // namespace
}  // namespace hecate

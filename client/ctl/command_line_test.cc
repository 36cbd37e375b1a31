#include "client/ctl/command_line.h"

#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, test_target, "default:1", "a string flag");
ABSL_FLAG(int64_t, test_count, 7, "an integer flag");
ABSL_FLAG(bool, test_json, false, "a boolean flag");
ABSL_FLAG(absl::Duration, test_timeout, absl::Seconds(30), "a duration flag");

namespace hecate {
namespace {

TEST(ParseCommandLineTest, FlagsAndArgumentsInterleave) {
  absl::FlagSaver saver;
  std::mt19937_64 rng(TestSeed());
  const int64_t count = std::uniform_int_distribution<int64_t>(-1000000, 1000000)(rng);
  const std::vector<std::string> args = {
      "--test_target=10.0.0.1:99", "stream", "--test_count", absl::StrCat(count), "abc",
      "-test_json", "-", "--test_timeout=2m"};
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(args);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->arguments, (std::vector<std::string>{"stream", "abc", "-"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_target), "10.0.0.1:99");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), count);
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_json));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_timeout), absl::Minutes(2));
  EXPECT_EQ(parsed->flags_given,
            (std::set<std::string>{"test_target", "test_count", "test_json", "test_timeout"}));
  EXPECT_FALSE(parsed->help);
}

TEST(ParseCommandLineTest, NegatedBooleanAndExplicitEmptyValue) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_test_json, true);
  absl::StatusOr<CommandLine> parsed = ParseCommandLine({"--notest_json", "--test_target="});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_json));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_target), "");
  EXPECT_EQ(parsed->flags_given.count("test_target"), 1u);
}

TEST(ParseCommandLineTest, DoubleDashEndsFlags) {
  absl::FlagSaver saver;
  absl::StatusOr<CommandLine> parsed =
      ParseCommandLine({"generate", "--", "--test_json", "-x"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->arguments, (std::vector<std::string>{"generate", "--test_json", "-x"}));
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_json));
}

TEST(ParseCommandLineTest, HelpIsRecognisedInEveryForm) {
  for (const char* help : {"--help", "-h", "-help", "--helpfull"}) {
    absl::StatusOr<CommandLine> parsed = ParseCommandLine({"list", help});
    ASSERT_TRUE(parsed.ok()) << help;
    EXPECT_TRUE(parsed->help) << help;
  }
}

TEST(ParseCommandLineTest, MistakesNameTheFlagAndChangeNothing) {
  absl::FlagSaver saver;
  struct Case {
    std::vector<std::string> args;
    const char* expected;
  };
  const Case cases[] = {
      {{"--test_target=x", "--no_such_flag=1"}, "unknown flag --no_such_flag"},
      {{"--test_target=x", "--test_count"}, "--test_count needs a value"},
      {{"--test_target=x", "--test_count=twelve"}, "--test_count"},
      {{"--test_target=x", "--test_timeout=5 parsecs"}, "--test_timeout"},
      {{"--test_target=x", "--notest_json=1"}, "--notest_json takes no value"},
      {{"--test_target=x", "--notest_count"}, "unknown flag --notest_count"},
      {{"--test_target=x", "--=3"}, "malformed flag"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CommandLine> parsed = ParseCommandLine(c.args);
    ASSERT_FALSE(parsed.ok()) << c.expected;
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()));
    EXPECT_NE(parsed.status().message().find(c.expected), absl::string_view::npos)
        << parsed.status();
    EXPECT_EQ(absl::GetFlag(FLAGS_test_target), "default:1") << c.expected;
    EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 7) << c.expected;
  }
}

TEST(DescribeFlagsTest, ListsFlagsOfTheFileWithDefaultsAndHelp) {
  const std::string all = DescribeFlags("client/ctl/command_line_test.cc", {});
  EXPECT_NE(all.find("--test_count=7"), std::string::npos) << all;
  EXPECT_NE(all.find("an integer flag"), std::string::npos);
  EXPECT_NE(all.find("--test_target=default:1"), std::string::npos);
  EXPECT_LT(all.find("--test_count"), all.find("--test_target"));  // sorted
  const std::string some = DescribeFlags("", {"test_json"});
  EXPECT_NE(some.find("--test_json=false"), std::string::npos);
  EXPECT_EQ(some.find("--test_count"), std::string::npos);
}

TEST(WrapWordsTest, LinesStayWithinTheWidthAndKeepEveryWord) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::string text;
  std::vector<std::string> words;
  for (int i = 0; i < 200; ++i) {
    words.emplace_back(std::uniform_int_distribution<size_t>(1, 14)(random), 'a' + i % 26);
    absl::StrAppend(&text, i ? " " : "", words.back());
  }
  const size_t width = std::uniform_int_distribution<size_t>(15, 80)(random);
  const std::string wrapped = WrapWords(text, width, 4);
  std::vector<std::string> lines = absl::StrSplit(wrapped, '\n');
  std::vector<std::string> rewords;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (i > 0) {
      ASSERT_TRUE(absl::StartsWith(line, "    ")) << line;
      line.remove_prefix(4);
    }
    EXPECT_LE(line.size(), width) << line;
    for (absl::string_view w : absl::StrSplit(line, ' ')) rewords.emplace_back(w);
  }
  EXPECT_EQ(rewords, words);
  EXPECT_EQ(WrapWords("one_very_long_word x", 5, 0), "one_very_long_word\nx");
}

}  // namespace
}  // namespace hecate

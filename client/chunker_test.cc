#include "client/chunker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string RandomBytes(std::mt19937_64& random, size_t size) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(byte(random));
  return bytes;
}

void ExpectChunksOf(const std::vector<std::string>& chunks, const std::string& data,
                    size_t chunk_bytes) {
  std::string joined;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i + 1 < chunks.size()) {
      EXPECT_EQ(chunks[i].size(), chunk_bytes) << "chunk " << i;
    } else {
      EXPECT_GE(chunks[i].size(), 1u);
      EXPECT_LE(chunks[i].size(), chunk_bytes);
    }
    joined += chunks[i];
  }
  EXPECT_EQ(joined, data);
  EXPECT_EQ(chunks.size(), (data.size() + chunk_bytes - 1) / chunk_bytes);
}

TEST(SplitIntoChunksTest, RandomSizesConcatenateBackWithFullChunks) {
  std::mt19937_64 random(TestSeed());
  std::uniform_int_distribution<size_t> size(0, 20000);
  std::uniform_int_distribution<size_t> chunk(1, 5000);
  for (int trial = 0; trial < 50; ++trial) {
    const std::string data = RandomBytes(random, size(random));
    const size_t chunk_bytes = trial == 0 ? 1 : chunk(random);
    std::vector<std::string> chunks;
    for (absl::string_view piece : SplitIntoChunks(data, chunk_bytes)) chunks.emplace_back(piece);
    ExpectChunksOf(chunks, data, chunk_bytes);
  }
}

TEST(SplitIntoChunksTest, EmptyInputAndZeroChunkSizeGiveNoChunks) {
  EXPECT_TRUE(SplitIntoChunks("", 4096).empty());
  EXPECT_TRUE(SplitIntoChunks("abc", 0).empty());
}

TEST(ChunkReaderTest, FileChunksMatchSplitIntoChunks) {
  std::mt19937_64 random(TestSeed());
  const std::string path = TestTempPath("chunks");
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{4097}, size_t{123457}}) {
    const std::string data = RandomBytes(random, size);
    {
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
      close(fd);
    }
    const size_t chunk_bytes = std::uniform_int_distribution<size_t>(1, 9000)(random);
    int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ChunkReader reader(fd, chunk_bytes);
    std::vector<std::string> chunks;
    while (true) {
      absl::StatusOr<absl::optional<std::string>> chunk = reader.Next();
      ASSERT_TRUE(chunk.ok()) << chunk.status();
      if (!chunk->has_value()) break;
      chunks.push_back(**chunk);
    }
    close(fd);
    ExpectChunksOf(chunks, data, chunk_bytes);
    EXPECT_EQ(reader.bytes_read(), data.size());
  }
}

// A pipe delivers bytes in small writes; chunks still fill up to full size.
TEST(ChunkReaderTest, PipeWritesInDribblesStillGiveFullChunks) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  const std::string data = RandomBytes(random, 50001);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer([&] {
    std::mt19937_64 pieces(seed + 1);
    size_t at = 0;
    while (at < data.size()) {
      size_t n = std::min<size_t>(std::uniform_int_distribution<size_t>(1, 700)(pieces),
                                  data.size() - at);
      ssize_t written = write(fds[1], data.data() + at, n);
      if (written <= 0) break;
      at += static_cast<size_t>(written);
    }
    close(fds[1]);
  });
  ChunkReader reader(fds[0], 4096);
  std::vector<std::string> chunks;
  while (true) {
    absl::StatusOr<absl::optional<std::string>> chunk = reader.Next();
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (!chunk->has_value()) break;
    chunks.push_back(**chunk);
  }
  writer.join();
  close(fds[0]);
  ExpectChunksOf(chunks, data, 4096);
}

TEST(ChunkReaderTest, ReadErrorIsReportedAndSticks) {
  ChunkReader reader(/*fd=*/-1, 16);
  absl::StatusOr<absl::optional<std::string>> first = reader.Next();
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("cannot read"), absl::string_view::npos);
  EXPECT_EQ(reader.Next().status(), first.status());
}

}  // namespace
}  // namespace hecate

#include "client/chunker.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace hecate {

std::vector<absl::string_view> SplitIntoChunks(absl::string_view data, size_t chunk_bytes) {
  std::vector<absl::string_view> chunks;
  if (chunk_bytes == 0) return chunks;
  chunks.reserve((data.size() + chunk_bytes - 1) / chunk_bytes);
  for (size_t start = 0; start < data.size(); start += chunk_bytes) {
    chunks.push_back(data.substr(start, std::min(chunk_bytes, data.size() - start)));
  }
  return chunks;
}

ChunkReader::ChunkReader(int fd, size_t chunk_bytes)
    : fd_(fd), chunk_bytes_(std::max<size_t>(chunk_bytes, 1)) {}

absl::StatusOr<absl::optional<std::string>> ChunkReader::Next() {
  if (!error_.ok()) return error_;
  if (at_end_) return absl::optional<std::string>();
  std::string chunk(chunk_bytes_, '\0');
  size_t filled = 0;
  while (filled < chunk_bytes_) {
    ssize_t n = read(fd_, &chunk[filled], chunk_bytes_ - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = absl::ErrnoToStatus(errno, "cannot read the input");
      return error_;
    }
    if (n == 0) {
      at_end_ = true;
      break;
    }
    filled += static_cast<size_t>(n);
  }
  if (filled == 0) return absl::optional<std::string>();
  chunk.resize(filled);
  bytes_read_ += filled;
  return absl::optional<std::string>(std::move(chunk));
}

}  // namespace hecate

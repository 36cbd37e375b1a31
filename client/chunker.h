// Splitting input bytes into fixed-size chunks for Stream requests.
//
// Every chunk but the last has exactly `chunk_bytes` bytes; the last has
// 1..chunk_bytes. Empty input gives no chunks. Fixed sizes make a stream's
// chunk boundaries, and so its per-chunk results, reproducible.
#ifndef HECATE_CLIENT_CHUNKER_H_
#define HECATE_CLIENT_CHUNKER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace hecate {

// Views into `data`; they live as long as `data`. `chunk_bytes` >= 1.
std::vector<absl::string_view> SplitIntoChunks(absl::string_view data, size_t chunk_bytes);

// Reads chunks from a file descriptor (a file, a pipe, stdin) as they fill:
// a chunk is returned once `chunk_bytes` bytes have arrived or the input has
// ended. Does not own or close the descriptor.
class ChunkReader {
 public:
  // `chunk_bytes` >= 1.
  ChunkReader(int fd, size_t chunk_bytes);

  // The next chunk, or nullopt at the end of the input. A read error is
  // returned with the OS error (and later calls return it again).
  absl::StatusOr<absl::optional<std::string>> Next();

  // Bytes returned in chunks so far.
  size_t bytes_read() const { return bytes_read_; }

 private:
  const int fd_;
  const size_t chunk_bytes_;
  size_t bytes_read_ = 0;
  bool at_end_ = false;
  absl::Status error_;
};

}  // namespace hecate

#endif  // HECATE_CLIENT_CHUNKER_H_

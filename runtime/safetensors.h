// Safetensors: reads and writes the safetensors container format.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// optional "__metadata__"}), then the data. Parsing checks every entry before
// anyone reads a byte of data: dtype known, shape non-negative, the offsets
// inside the data and consistent with shape x dtype size. A truncated or
// lying file is an error naming the file and tensor, never an out-of-bounds
// read. The parsed view points into the caller's bytes.
#ifndef HECATE_RUNTIME_SAFETENSORS_H_
#define HECATE_RUNTIME_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hecate {

struct SafetensorsEntry {
  std::string dtype;           // "F32", "F64", ...
  std::vector<int64_t> shape;
  absl::string_view bytes;      // into the parsed file
  int64_t numel() const;
};

using SafetensorsView = std::map<std::string, SafetensorsEntry>;

absl::StatusOr<SafetensorsView> ParseSafetensors(absl::string_view file,
                                                 absl::string_view source);

// Copies an F32 or F64 entry into float32 values (F64 is rounded).
absl::StatusOr<std::vector<float>> ToFloat32(const SafetensorsEntry& entry,
                                             absl::string_view name);

// A tensor to write: F32 values and their shape.
struct Float32Tensor {
  std::string name;
  std::vector<int64_t> shape;
  absl::Span<const float> values;
};

// Writes tensors in the given order (F32, little-endian).
std::string WriteSafetensors(const std::vector<Float32Tensor>& tensors);

}  // namespace hecate

#endif  // HECATE_RUNTIME_SAFETENSORS_H_

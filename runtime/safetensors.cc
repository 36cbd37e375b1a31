#include "runtime/safetensors.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace hecate {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

int DtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

uint64_t ReadLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

absl::StatusOr<SafetensorsView> ParseSafetensors(absl::string_view file,
                                                 absl::string_view source) {
  auto bad = [&](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", parts...));
  };
  if (file.size() < 8) return bad("truncated: ", file.size(), " bytes, no header length");
  const uint64_t header_len = ReadLe64(file.data());
  if (header_len > kMaxHeaderBytes || header_len > file.size() - 8) {
    return bad("header length ", header_len, " exceeds the file (", file.size(), " bytes)");
  }
  const absl::string_view data = file.substr(8 + header_len);
  nlohmann::json header = nlohmann::json::parse(file.substr(8, header_len), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return bad("header is not a JSON object");

  SafetensorsView view;
  for (auto& [name, e] : header.items()) {
    if (name == "__metadata__") continue;
    if (!e.is_object()) return bad("tensor ", name, ": entry is not an object");
    auto dtype = e.find("dtype");
    auto shape = e.find("shape");
    auto offsets = e.find("data_offsets");
    if (dtype == e.end() || !dtype->is_string()) return bad("tensor ", name, ": missing dtype");
    if (shape == e.end() || !shape->is_array()) return bad("tensor ", name, ": missing shape");
    if (offsets == e.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      return bad("tensor ", name, ": data_offsets must be two non-negative integers");
    }
    SafetensorsEntry entry;
    entry.dtype = dtype->get<std::string>();
    const int elem = DtypeSize(entry.dtype);
    if (elem == 0) return bad("tensor ", name, ": unknown dtype ", entry.dtype);
    uint64_t numel = 1;
    for (const auto& s : *shape) {
      if (!s.is_number_unsigned()) return bad("tensor ", name, ": shape must be non-negative integers");
      uint64_t dim = s.get<uint64_t>();
      if (dim != 0 && numel > std::numeric_limits<uint32_t>::max() / dim) {
        return bad("tensor ", name, ": shape too large");
      }
      numel *= dim;
      entry.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
    if (begin > end || end > data.size()) {
      return bad("tensor ", name, ": data_offsets [", begin, ", ", end,
                 ") outside the data (", data.size(), " bytes; file truncated?)");
    }
    if (end - begin != numel * elem) {
      return bad("tensor ", name, ": ", end - begin, " bytes do not match shape x ",
                 entry.dtype, " (", numel * elem, " bytes)");
    }
    entry.bytes = data.substr(begin, end - begin);
    view.emplace(name, std::move(entry));
  }
  return view;
}

absl::StatusOr<std::vector<float>> ToFloat32(const SafetensorsEntry& entry,
                                             absl::string_view name) {
  std::vector<float> out(static_cast<size_t>(entry.numel()));
  if (entry.dtype == "F32") {
    std::memcpy(out.data(), entry.bytes.data(), out.size() * sizeof(float));
  } else if (entry.dtype == "F64") {
    for (size_t i = 0; i < out.size(); ++i) {
      double v;
      std::memcpy(&v, entry.bytes.data() + i * sizeof(double), sizeof(double));
      out[i] = static_cast<float>(v);
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", name, ": dtype ", entry.dtype, " is not F32 or F64"));
  }
  return out;
}

std::string WriteSafetensors(const std::vector<Float32Tensor>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (const Float32Tensor& t : tensors) {
    const uint64_t bytes = t.values.size() * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // align the data to 8 bytes
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  out += json;
  out.reserve(out.size() + offset);
  for (const Float32Tensor& t : tensors) {
    out.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
  }
  return out;
}

}  // namespace hecate

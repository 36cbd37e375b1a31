#include "server/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace hecate::metrics {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || c == ':' ||
                    (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

absl::Status ValidateLabelName(absl::string_view label_name) {
  if (label_name.empty()) {
    return absl::InvalidArgumentError("label name is empty");
  }
  for (size_t i = 0; i < label_name.size(); ++i) {
    const char c = label_name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c));
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label name \"", label_name,
          "\" does not match [a-zA-Z_][a-zA-Z0-9_]* (bad character at offset ",
          i, ")"));
    }
  }
  if (label_name.size() >= 2 && label_name[0] == '_' && label_name[1] == '_') {
    return absl::InvalidArgumentError(absl::StrCat(
        "label name \"", label_name,
        "\" starts with \"__\", which Prometheus reserves for internal use"));
  }
  if (label_name == "le" || label_name == "quantile") {
    return absl::InvalidArgumentError(absl::StrCat(
        "label name \"", label_name,
        "\" is reserved (histograms own \"le\", summaries own \"quantile\")"));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<uint8_t>(text[i]);
    size_t length;
    uint32_t code_point;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    // Overlong encodings, UTF-16 surrogates and values past U+10FFFF.
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[length]) return false;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    if (code_point > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  // to_chars without a format is the shortest representation that round-trips.
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void AppendSampleLine(absl::string_view name, absl::string_view suffix,
                      absl::string_view labels, absl::string_view extra_label,
                      double value, std::string* out) {
  absl::StrAppend(out, name, suffix);
  if (!labels.empty() || !extra_label.empty()) {
    absl::StrAppend(out, "{", labels,
                    (!labels.empty() && !extra_label.empty()) ? "," : "",
                    extra_label, "}");
  }
  absl::StrAppend(out, " ", FormatDouble(value), "\n");
}

}  // namespace hecate::metrics

// Text exposition format 0.0.4 of Prometheus: the lexical rules in one place.
//
// Promises: a name accepted by IsValidMetricName / IsValidLabelName is one
// Prometheus ingests; the escapers produce text its parser reads back as the
// original string; FormatDouble prints the shortest text that Go's
// strconv.ParseFloat turns back into the same double ("+Inf", "-Inf", "NaN"
// for the special values). Everything here is pure and thread-compatible.
//
//   std::string line;
//   AppendSampleLine("hecate_tokens_total", "", "direction=\"in\"", "", "",
//                    42.0, &line);   // hecate_tokens_total{direction="in"} 42\n
#ifndef HECATE_SERVER_METRICS_TEXT_FORMAT_H_
#define HECATE_SERVER_METRICS_TEXT_FORMAT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hecate::metrics {

// The Content-Type of the text format this library writes.
inline constexpr char kTextContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(absl::string_view name);

// [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__" are Prometheus-internal and
// rejected, as are "le" and "quantile", which histograms and summaries own.
// Returns InvalidArgument naming the label and the rule it breaks.
absl::Status ValidateLabelName(absl::string_view label_name);

// True when `text` is well-formed UTF-8 (Prometheus rejects anything else in
// HELP text and label values).
bool IsValidUtf8(absl::string_view text);

// HELP text: backslash -> \\, newline -> \n.
std::string EscapeHelp(absl::string_view help);

// Label value: backslash -> \\, double quote -> \", newline -> \n.
std::string EscapeLabelValue(absl::string_view value);

// Shortest round-trip decimal; "+Inf", "-Inf", "NaN" for the special values.
std::string FormatDouble(double value);

// Appends `name``suffix`{`labels`,`extra_label`} value\n, where `labels` is an
// already escaped list like `a="x",b="y"` (maybe empty) and `extra_label` is an
// already escaped `le="0.5"` or `quantile="0.99"` (maybe empty). Braces are
// left out when both are empty.
void AppendSampleLine(absl::string_view name, absl::string_view suffix,
                      absl::string_view labels, absl::string_view extra_label,
                      double value, std::string* out);

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_TEXT_FORMAT_H_

#include "server/metrics/gauge.h"

#include "server/metrics/text_format.h"

namespace hecate::metrics {

void Gauge::AppendSamples(absl::string_view name, absl::string_view labels,
                          std::string* out) const {
  AppendSampleLine(name, "", labels, "", Value(), out);
}

}  // namespace hecate::metrics

#include "server/metrics/exposition.h"

#include <iterator>

#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace hecate::metrics {

std::string SerializeText(const std::vector<const prometheus::Collectable*>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* collectable : collectables) {
    if (collectable == nullptr) continue;
    std::vector<prometheus::MetricFamily> collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace hecate::metrics

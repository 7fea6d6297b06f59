#include "common/config/classifier.h"

namespace tapsense::config {

classifier::classifier(const config& cfg) {
  for (std::size_t g = 0; g < cfg.internal.size(); ++g) {
    for (const auto& r : cfg.internal[g].ranges) {
      if (auto range = net::ip_range::parse(r)) {
        ranges_.add(*range, static_cast<std::uint16_t>(g));
      }
    }
    inventory_.push_back(cfg.internal[g].inventory);
  }
  ranges_.build();
}

}  // namespace tapsense::config

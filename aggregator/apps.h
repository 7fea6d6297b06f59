#pragma once
// Application of each connection from nDPI (libndpi), behind the
// app_classifier interface so the aggregator does not depend on it.
//
// Detection state lives in process memory (nDPI's flow struct has
// pointers): a restarted aggregator re-detects from the next payload
// packets. At most `max_flows` detections run at once; past that, or after
// `max_packets` payload packets of a connection, nDPI's best guess (ports
// included) is taken.
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "aggregator/shard.h"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;

namespace tapsense::aggregator {

class ndpi_classifier final : public app_classifier {
 public:
  explicit ndpi_classifier(std::size_t max_flows = 16384, unsigned max_packets = 8);
  ~ndpi_classifier() override;
  ndpi_classifier(const ndpi_classifier&) = delete;
  ndpi_classifier& operator=(const ndpi_classifier&) = delete;

  result classify(std::uint64_t conn, std::uint64_t ts_ns, std::span<const std::uint8_t> ip_packet,
                  bool client_to_server) override;
  void forget(std::uint64_t conn) override;
  names describe(std::uint16_t master, std::uint16_t app, std::uint16_t category) override;

  std::uint64_t detections() const noexcept { return detections_; }
  std::uint64_t guesses() const noexcept { return guesses_; }
  std::uint64_t evictions() const noexcept { return evictions_; }

 private:
  struct state {
    ndpi_flow_struct* flow;
    unsigned packets;
  };
  result giveup(state& s);
  void release(state& s);

  ndpi_detection_module_struct* mod_ = nullptr;
  std::unordered_map<std::uint64_t, state> flows_;
  std::deque<std::uint64_t> order_;  // oldest first (may hold ids already forgotten)
  std::size_t max_flows_;
  unsigned max_packets_;
  std::uint64_t detections_ = 0;
  std::uint64_t guesses_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace tapsense::aggregator

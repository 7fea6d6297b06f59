#pragma once
// Monitored sites named by domain: capture reads the names the traffic
// carries and tells the aggregator which addresses they stand for, in order
// with the packets:
//  - DNS answers (A/AAAA, through CNAME chains), holding for their TTL, to
//    every shard;
//  - TLS SNI and HTTP Host of a connection's first client payload, to that
//    connection's shard (it also reclassifies the connection's packets so
//    far).
// Runs only when domains are configured, and only on DNS responses and the
// first payload packets of TCP flows.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/config/classifier.h"
#include "common/ipc/frame_types.h"
#include "common/net/decode.h"

namespace tapsense::capture {

class name_watcher {
 public:
  explicit name_watcher(const config::classifier& cls, std::uint32_t connection_ttl_s);
  ~name_watcher();
  name_watcher(const name_watcher&) = delete;
  name_watcher& operator=(const name_watcher&) = delete;

  bool active() const noexcept { return active_; }
  // Bindings the packet establishes; `broadcast` tells the caller whether
  // they go to every shard (DNS) or only the packet's (SNI/Host).
  void on_packet(const net::packet_record& rec, net::bytes frame, const net::layer_offsets& off,
                 bool first_payload, std::vector<ipc::name_binding_frame>& out, bool& broadcast);

  std::uint64_t matches() const noexcept { return matches_; }

 private:
  struct parsers;
  const config::classifier& cls_;
  std::uint32_t connection_ttl_s_;
  bool active_;
  std::unique_ptr<parsers> p_;
  std::uint64_t matches_ = 0;
};

}  // namespace tapsense::capture

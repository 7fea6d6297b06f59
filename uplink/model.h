#pragma once
// The uplink's inventory model, in memory. Every report batch updates it in
// time proportional to the batch (one ordered-map insert or update per
// fact); the outputs are built from it without touching SQLite.
//
// Its tables mirror the SQLite tables of inventory.sqlite, key for key and
// merge rule for merge rule (see inventory.cpp), so that a model written to
// SQLite and read back is the same model. Ordered maps keep SQLite's
// primary-key order: the asset builder visits facts in that order, and the
// flow files are written in it, as they were when both came from SQL.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <capnp/common.h>
#include <capnp/blob.h>

#include "common/net/addr.h"
#include "common/proto/names.h"
#include "common/schema/report.capnp.h"

namespace SQLite {
class Database;
}

namespace tapsense::uplink {

// A string kept once in a model's pool (names, sources, fields and values
// repeat across devices); compared by content, so maps keep SQLite's order.
class interned {
 public:
  interned() = default;
  explicit interned(const std::string* p) : p_(p) {}
  const std::string& str() const noexcept { return p_ != nullptr ? *p_ : none(); }
  // Reads as the string it stands for (SQLite binds, JSON writers).
  operator const std::string&() const noexcept { return str(); }  // NOLINT(google-explicit-constructor)
  bool empty() const noexcept { return str().empty(); }
  const char* c_str() const noexcept { return str().c_str(); }
  bool operator<(const interned& o) const noexcept { return p_ != o.p_ && str() < o.str(); }
  bool operator==(const interned& o) const noexcept { return p_ == o.p_ || str() == o.str(); }

 private:
  static const std::string& none() {
    static const std::string e;
    return e;
  }
  const std::string* p_ = nullptr;
};

// Insert-only: the set's nodes never move, so the pointers stay valid (an
// output thread may read them while the model takes more). What it holds is
// a vocabulary: networks, monitored sites, nDPI's names, the MACs of
// unassigned clients, and the facts' sources, fields and values.
class string_pool {
 public:
  interned get(std::string s) { return s.empty() ? interned() : interned(&*set_.insert(std::move(s)).first); }
  interned get(const char* s) { return *s == '\0' ? interned() : get(std::string(s)); }
  std::uint64_t approx_bytes() const;

 private:
  std::unordered_set<std::string> set_;
};

// A 16-byte address column; nullopt for an empty blob (it sorts first, as
// SQLite's empty BLOB does).
using opt_ip = std::optional<net::ip_address>;

// The text columns of flows, sightings, bindings and observations are
// interned in the model's pool: a network, a name or an application repeats
// across thousands of rows, and a pointer is 8 bytes where a std::string is 32.
struct flow_key {
  std::uint64_t interval_start = 0;
  interned network;
  opt_ip client;
  opt_ip server;
  std::uint16_t server_port = 0;
  std::uint8_t protocol = 0;
  std::uint8_t client_class = 0;
  std::uint8_t server_class = 0;
  interned client_name;
  interned server_name;
  // The flow files' order (interval, network, client, server, port,
  // protocol), then the rest of the key.
  auto tie() const {
    return std::tie(interval_start, network, client, server, server_port, protocol, client_class, server_class,
                    client_name, server_name);
  }
  bool operator<(const flow_key& o) const { return tie() < o.tie(); }
};
struct flow_value {
  std::uint64_t packets = 0, packets_c2s = 0, bytes_c2s = 0, bytes_s2c = 0;
  std::uint64_t first_seen = 0, last_seen = 0, interval_end = 0;
  interned app_family, app_service, application;
  bool dirty = false;  // changed since the last checkpoint
};

// A sighting's key: an address with the MAC its packets carried (0: none),
// so the holders of a DHCP address keep their own traffic.
struct addr_key {
  interned network;
  opt_ip ip;
  std::uint64_t mac = 0;
  auto tie() const { return std::tie(network, ip, mac); }
  bool operator<(const addr_key& o) const { return tie() < o.tie(); }
};
struct sighting_value {
  std::uint64_t first_seen = 0, last_seen = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0;
  std::vector<std::uint8_t> ttls;  // distinct, ascending
  std::uint8_t ttl_out = 0;
  bool dirty = false;
};

struct binding_key {
  interned network;
  opt_ip ip;
  std::uint64_t mac = 0;
  std::uint8_t source = 0;  // schema::BindingSource
  auto tie() const { return std::tie(network, ip, mac, source); }
  bool operator<(const binding_key& o) const { return tie() < o.tie(); }
};
struct binding_value {
  std::uint64_t first_seen = 0, last_seen = 0, packets = 0;
  bool dirty = false;
};

// An optional address in 16 bytes, for the observation key: std::optional's
// flag costs 8 bytes a key after padding, and the observations are most of
// the model (224,045 keys for 9,009 assets of the sample office). No address
// is ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, a multicast address no fact is
// about (a multicast source is invalid; the aggregator never makes one an
// asset). It orders first, as nullopt does, so the map keeps SQLite's order.
class packed_ip {
 public:
  packed_ip() noexcept { a_.b.fill(0xff); }
  packed_ip(const opt_ip& ip) noexcept {  // NOLINT(google-explicit-constructor)
    if (ip) {
      a_ = *ip;
    } else {
      a_.b.fill(0xff);
    }
  }
  bool has_value() const noexcept {
    for (auto x : a_.b) {
      if (x != 0xff) return true;
    }
    return false;
  }
  explicit operator bool() const noexcept { return has_value(); }
  const net::ip_address& operator*() const noexcept { return a_; }
  const net::ip_address* operator->() const noexcept { return &a_; }
  operator opt_ip() const noexcept { return has_value() ? opt_ip(a_) : std::nullopt; }  // NOLINT
  bool operator==(const packed_ip& o) const noexcept { return a_ == o.a_; }
  bool operator<(const packed_ip& o) const noexcept {
    const bool h = has_value(), oh = o.has_value();
    if (h != oh) return oh;  // none first
    return h && a_ < o.a_;
  }

 private:
  net::ip_address a_;
};
static_assert(sizeof(packed_ip) == 16);

// A fact's source as the journal and the outputs write it: the name, or for
// a derived fact the interned "rule:<id>" kept beside it.
inline std::string_view source_text(proto::source_name source, const interned& rule) noexcept {
  return rule.empty() ? source.str() : std::string_view(rule.str());
}

// Source and field are indices in the facts' vocabulary (common/proto/
// names.h), whose order is their text's: the key orders as SQLite's
// (network, mac, ip, source, field, value) does.
struct observation_key {
  interned network;
  std::uint64_t mac = 0;
  packed_ip ip;
  proto::source_name source;
  interned rule;  // source "rule": the whole source text, "rule:<id>"
  proto::field_name field;
  interned value;
  auto tie() const { return std::tie(network, mac, ip, source, rule, field, value); }
  std::string_view source_text() const noexcept { return uplink::source_text(source, rule); }
  bool operator<(const observation_key& o) const { return tie() < o.tie(); }
};
struct observation_value {
  std::uint64_t first_seen = 0, last_seen = 0;
  std::uint32_t count = 0;  // saturates (the table's column is 64-bit)
  std::uint8_t confidence = 0;
  bool dirty = false;
};

struct gateway_value {
  std::uint64_t packets = 0;
  bool dirty = false;
};

// The binding an observation of an older version stated only in its text
// (schema::BindingSource: a DHCP lease or requested address, an address a
// device announced), or nullopt. For upgrading an inventory written before
// bindings travelled typed (inventory schema 4, report schema 2).
std::optional<std::uint8_t> legacy_binding(std::string_view source, std::string_view field);

class model {
 public:
  // Observations the filter returns true for (by MAC, or 16-byte IP) are
  // dropped: excluded assets keep no attributes.
  using filter_fn = std::function<bool(std::uint64_t, capnp::Data::Reader)>;

  // Apply a batch (already deduplicated). May throw kj::Exception on a
  // malformed message, leaving the facts before the bad one applied.
  void apply(schema::FlowBatch::Reader b);
  void apply(schema::SightingBatch::Reader b);
  // Returns the number of observations (and bindings) the filter dropped.
  // Throws kj::Exception when the batch was written with another vocabulary
  // of facts (proto::vocabulary_hash) or names an index outside it.
  std::uint64_t apply(schema::ObservationBatch::Reader b, const filter_fn& filter);

  // A fact's source as the journal writes it ("dhcp", "rule:<id>"), or
  // nullopt when the vocabulary does not know it.
  std::optional<std::pair<proto::source_name, interned>> source_of(std::string_view text);

  // Deletes flows whose interval ended before `before_ns` (retention).
  std::uint64_t prune_flows(std::uint64_t before_ns);

  // Packet time of the newest record of any table (0 when empty): an
  // inventory may hold only what the fingerprinter said.
  std::uint64_t newest() const noexcept { return newest_; }
  // Journal rows load() skipped because the vocabulary does not know their
  // source or field (a newer version's names, read by an older one).
  std::uint64_t unknown_names() const noexcept { return unknown_names_; }

  // Reads the SQLite tables (a checkpoint) into an empty model.
  void load(SQLite::Database& db);
  // Writes what changed since the last checkpoint (and the prunes) to the
  // SQLite tables; the caller holds the transaction.
  std::uint64_t save(SQLite::Database& db);

  // Rough heap bytes (keys, values, strings, map nodes): for the log.
  std::uint64_t approx_bytes() const;

  const std::map<flow_key, flow_value>& flows() const noexcept { return flows_; }
  const std::map<addr_key, sighting_value>& sightings() const noexcept { return sightings_; }
  const std::map<binding_key, binding_value>& bindings() const noexcept { return bindings_; }
  const std::map<observation_key, observation_value>& observations() const noexcept { return observations_; }
  const std::map<std::uint64_t, gateway_value>& gateways() const noexcept { return gateways_; }

 private:
  std::map<flow_key, flow_value> flows_;
  std::map<addr_key, sighting_value> sightings_;
  std::map<binding_key, binding_value> bindings_;
  std::map<observation_key, observation_value> observations_;
  std::map<std::uint64_t, gateway_value> gateways_;
  string_pool strings_;
  std::uint64_t newest_ = 0;
  std::uint64_t pruned_before_ = 0;  // prunes not yet written to SQLite
  std::uint64_t unknown_names_ = 0;
  void add_binding(interned network, const opt_ip& ip, std::uint64_t mac, std::uint8_t source,
                   std::uint64_t first_seen, std::uint64_t last_seen, std::uint64_t packets);
  // A batch's bindings (the aggregator's, or those the fingerprinter's facts
  // state); returns how many the filter dropped.
  std::uint64_t add_bindings(capnp::List<schema::MacBinding>::Reader list, const filter_fn& filter);
};

}  // namespace tapsense::uplink

#include "uplink/model.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <kj/debug.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tapsense::uplink {

namespace {

opt_ip ip_of(capnp::Data::Reader d) {
  if (d.size() != 16) return std::nullopt;
  net::ip_address a;
  std::memcpy(a.b.data(), d.begin(), 16);
  return a;
}

opt_ip ip_of(const SQLite::Column& c) {
  if (c.getBytes() != 16) return std::nullopt;
  net::ip_address a;
  std::memcpy(a.b.data(), c.getBlob(), 16);
  return a;
}

// An absent address is an empty blob (not NULL) in the key columns. For an
// opt_ip or an observation key's packed_ip, bound from the key itself (a
// converted copy would be a temporary gone before the statement runs).
template <typename OptionalAddress>
void bind_ip(SQLite::Statement& st, int i, const OptionalAddress& ip) {
  static const std::uint8_t none = 0;
  if (ip) {
    st.bindNoCopy(i, ip->b.data(), 16);
  } else {
    st.bind(i, &none, 0);
  }
}

std::uint64_t u64(const SQLite::Column& c) { return static_cast<std::uint64_t>(c.getInt64()); }
std::int64_t i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

// Writes a checkpoint's rows of one table `per` at a time through one
// multi-row INSERT, and the last few one at a time: a statement per row
// cost a third more (0.089 against 0.061 s for 75,000 observation rows, in
// a test program). The caller binds a row's columns at offset() + 1 ...
// offset() + columns, then calls row_done(). Bound text must stay put until
// the statement runs (the model's strings do, while it saves).
class row_writer {
 public:
  // `head`: "INSERT ... INTO t(c1, ..., cN) VALUES"; `rows`: how many follow.
  row_writer(SQLite::Database& db, const std::string& head, int columns, std::size_t rows)
      : db_(db), head_(head), cols_(columns), left_(rows) {
    choose();
  }
  SQLite::Statement& st() { return *cur_; }
  int offset() const noexcept { return static_cast<int>(in_stmt_) * cols_; }
  void row_done() {
    if (++in_stmt_ < stmt_rows_) return;
    cur_->exec();
    cur_->reset();
    left_ -= stmt_rows_;
    in_stmt_ = 0;
    choose();
  }

 private:
  static constexpr std::size_t per = 64;  // 64 x 20 columns: far below SQLite's 32,766 parameters
  std::unique_ptr<SQLite::Statement> prepare(std::size_t n) {
    std::string sql = head_;
    std::string one = "(";
    for (int c = 0; c < cols_; ++c) one += c ? ",?" : "?";
    one += ")";
    for (std::size_t r = 0; r < n; ++r) sql += (r ? "," : " ") + one;
    return std::make_unique<SQLite::Statement>(db_, sql);
  }
  void choose() {
    if (left_ >= per) {
      if (!many_) many_ = prepare(per);
      cur_ = many_.get();
      stmt_rows_ = per;
    } else if (left_ > 0) {
      if (!one_) one_ = prepare(1);
      cur_ = one_.get();
      stmt_rows_ = 1;
    }
  }
  SQLite::Database& db_;
  std::string head_;
  int cols_;
  std::size_t left_;
  std::unique_ptr<SQLite::Statement> many_, one_;
  SQLite::Statement* cur_ = nullptr;
  std::size_t stmt_rows_ = 0;
  std::size_t in_stmt_ = 0;
};

// A checkpoint's rows of one table: every entry of `m` marked dirty is
// bound by `bind(statement, offset, key, value)` (columns offset + 1 ...
// offset + `columns`), written, and marked clean. Returns how many.
template <typename Map, typename Bind>
std::uint64_t save_dirty(SQLite::Database& db, const std::string& head, int columns, Map& m, const Bind& bind) {
  // One walk of the tree, not two (counting first): the walks were a fifth
  // of save()'s perf samples on the 30-copy benchmark.
  std::vector<typename Map::pointer> dirty;
  for (auto& e : m) {
    if (e.second.dirty) dirty.push_back(&e);
  }
  row_writer w(db, head, columns, dirty.size());
  for (auto* e : dirty) {
    bind(w.st(), w.offset(), e->first, e->second);
    w.row_done();
    e->second.dirty = false;
  }
  return dirty.size();
}

template <typename V>
std::size_t string_heap(const V& s) {
  // Strings longer than the small-string buffer own a heap block.
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

}  // namespace

void model::apply(schema::FlowBatch::Reader b) {
  for (auto f : b.getFlows()) {
    flow_key k;
    k.interval_start = f.getIntervalStart();
    k.network = strings_.get(f.getNetwork().cStr());
    k.client = ip_of(f.getClient());
    k.server = ip_of(f.getServer());
    k.server_port = f.getServerPort();
    k.protocol = f.getProtocol();
    k.client_class = static_cast<std::uint8_t>(f.getClientClass());
    k.server_class = static_cast<std::uint8_t>(f.getServerClass());
    // An unassigned client (0.0.0.0, ::) is told apart by its MAC, kept
    // where monitored sites keep their name (the name is part of the flow's
    // key; the two never meet: a monitored side has an address).
    if (f.getClientMac() != 0) {
      k.client_name = strings_.get(net::mac_address::from_u64(f.getClientMac()).to_string());
    } else {
      k.client_name = strings_.get(f.getClientName().cStr());
    }
    k.server_name = strings_.get(f.getServerName().cStr());
    auto [it, fresh] = flows_.try_emplace(std::move(k));
    auto& v = it->second;
    // The inventory's upsert: sums, the time span, the first interval end
    // and the first non-empty classification (a fresh entry is all zeros
    // and empty, so the same lines insert it).
    v.packets += f.getPackets();
    v.packets_c2s += f.getPacketsClientToServer();
    v.bytes_c2s += f.getBytesClientToServer();
    v.bytes_s2c += f.getBytesServerToClient();
    v.first_seen = fresh ? f.getFirstSeen() : std::min(v.first_seen, f.getFirstSeen());
    v.last_seen = std::max(v.last_seen, f.getLastSeen());
    if (fresh) v.interval_end = f.getIntervalEnd();
    if (v.app_family.empty()) v.app_family = strings_.get(f.getAppFamily().cStr());
    if (v.app_service.empty()) v.app_service = strings_.get(f.getAppService().cStr());
    if (v.application.empty()) v.application = strings_.get(f.getApplication().cStr());
    v.dirty = true;
    newest_ = std::max(newest_, v.last_seen);
  }
}

void model::apply(schema::SightingBatch::Reader b) {
  for (auto s : b.getSightings()) {
    auto [it, fresh] = sightings_.try_emplace(addr_key{strings_.get(s.getNetwork().cStr()), ip_of(s.getIp()), s.getMac()});
    auto& v = it->second;
    // Sums and the time span; the outgoing TTL of the latest sighting that
    // sent something (a fresh entry takes the first one's).
    if (fresh || (s.getLastSeen() >= v.last_seen && s.getPacketsOut() > 0)) v.ttl_out = s.getTtlOut();
    v.first_seen = fresh ? s.getFirstSeen() : std::min(v.first_seen, s.getFirstSeen());
    v.last_seen = std::max(v.last_seen, s.getLastSeen());
    v.bytes_in += s.getBytesIn();
    v.bytes_out += s.getBytesOut();
    v.packets_in += s.getPacketsIn();
    v.packets_out += s.getPacketsOut();
    for (auto t : s.getTtls()) {
      const auto pos = std::lower_bound(v.ttls.begin(), v.ttls.end(), t);
      if (pos == v.ttls.end() || *pos != t) v.ttls.insert(pos, t);
    }
    v.dirty = true;
    newest_ = std::max(newest_, v.last_seen);
  }
  add_bindings(b.getBindings(), nullptr);
  for (auto mac : b.getGatewayMacs()) {
    auto& g = gateways_[mac];
    ++g.packets;
    g.dirty = true;
  }
}

void model::add_binding(interned network, const opt_ip& ip, std::uint64_t mac, std::uint8_t source,
                        std::uint64_t first_seen, std::uint64_t last_seen, std::uint64_t packets) {
  auto [it, fresh] = bindings_.try_emplace(binding_key{network, ip, mac, source});
  auto& v = it->second;
  if (fresh) {
    v.first_seen = first_seen;
    v.last_seen = last_seen;
    v.packets = packets;
  } else {
    v.first_seen = std::min(v.first_seen, first_seen);
    v.last_seen = std::max(v.last_seen, last_seen);
    v.packets += packets;
  }
  v.dirty = true;
  newest_ = std::max(newest_, v.last_seen);
}

std::uint64_t model::add_bindings(capnp::List<schema::MacBinding>::Reader list, const filter_fn& filter) {
  std::uint64_t filtered = 0;
  for (auto bnd : list) {
    if (filter && filter(bnd.getMac(), bnd.getIp())) {
      ++filtered;  // about an excluded asset
      continue;
    }
    add_binding(strings_.get(bnd.getNetwork().cStr()), ip_of(bnd.getIp()), bnd.getMac(),
                static_cast<std::uint8_t>(bnd.getSource()), bnd.getFirstSeen(), bnd.getLastSeen(), bnd.getPackets());
  }
  return filtered;
}

std::optional<std::uint8_t> legacy_binding(std::string_view source, std::string_view field) {
  if (field == "ip") {
    return static_cast<std::uint8_t>(source == "dhcp" ? schema::BindingSource::DHCP : schema::BindingSource::ANNOUNCED);
  }
  if (source == "dhcp" && field == "requested_ip") return static_cast<std::uint8_t>(schema::BindingSource::DHCP_REQUESTED);
  return std::nullopt;
}

std::optional<std::pair<proto::source_name, interned>> model::source_of(std::string_view text) {
  constexpr proto::source_name rule("rule");
  if (text.starts_with("rule:") && text.size() > 5) return std::pair{rule, strings_.get(std::string(text))};
  if (const auto s = proto::source_name::find(text); s && *s != rule) return std::pair{*s, interned()};
  return std::nullopt;
}

std::uint64_t model::apply(schema::ObservationBatch::Reader b, const filter_fn& filter) {
  constexpr proto::source_name rule("rule");
  // A journal frame an older version wrote names sources and fields in
  // text (report schema 1); anything newer by index, in the writer's
  // vocabulary, which must be this one.
  const bool legacy = b.getSchemaVersion() < 2;
  KJ_REQUIRE(legacy || b.getVocabulary() == proto::vocabulary_hash,
             "observation batch written with another vocabulary of facts (common/proto/names.h)");
  std::uint64_t filtered = 0;
  for (auto o : b.getObservations()) {
    if (filter && filter(o.getMac(), o.getIp())) {
      ++filtered;
      continue;  // about an excluded asset: never stored
    }
    observation_key k{strings_.get(o.getNetwork().cStr()), o.getMac(), ip_of(o.getIp()), {}, {}, {}, {}};
    if (legacy) {
      const auto s = source_of(o.getObsoleteSource().cStr());
      const auto f = proto::field_name::find(o.getObsoleteField().cStr());
      if (!s || !f) {
        ++unknown_names_;
        continue;
      }
      std::tie(k.source, k.rule) = *s;
      k.field = *f;
      if (const auto bs = legacy_binding(k.source, k.field); bs && k.mac != 0) {
        if (const auto a = net::ip_address::parse(o.getValue().cStr()); a && !a->is_unspecified()) {
          add_binding(k.network, *a, k.mac, *bs, o.getTs(), o.getTs(), 1);
        }
      }
    } else {
      const auto s = proto::source_name::from_index(o.getSourceId());
      const auto f = proto::field_name::from_index(o.getFieldId());
      KJ_REQUIRE(s.has_value() && f.has_value() && !s->empty() && !f->empty(), "observation with a source or field outside the vocabulary");
      k.source = *s;
      k.field = *f;
      if (k.source == rule) {
        KJ_REQUIRE(o.hasRule() && o.getRule().size() != 0, "a derived observation without its rule");
        k.rule = strings_.get("rule:" + std::string(o.getRule().cStr()));
      }
    }
    k.value = strings_.get(o.getValue().cStr());
    auto [it, fresh] = observations_.try_emplace(std::move(k));
    auto& v = it->second;
    const std::uint64_t ts = o.getTs();
    if (fresh) {
      v.confidence = o.getConfidence();
      v.first_seen = ts;
      v.last_seen = ts;
      v.count = 1;
    } else {
      v.confidence = std::max(v.confidence, o.getConfidence());
      v.first_seen = std::min(v.first_seen, ts);
      v.last_seen = std::max(v.last_seen, ts);
      if (v.count != UINT32_MAX) ++v.count;
    }
    v.dirty = true;
    newest_ = std::max(newest_, v.last_seen);
  }
  return filtered + add_bindings(b.getBindings(), filter);
}

std::uint64_t model::prune_flows(std::uint64_t before_ns) {
  std::uint64_t n = 0;
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (it->second.interval_end < before_ns) {
      it = flows_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  pruned_before_ = std::max(pruned_before_, before_ns);
  return n;
}

void model::load(SQLite::Database& db) {
  {
    SQLite::Statement st(db, R"sql(
      SELECT interval_start, client, server, client_class, server_class, server_port, protocol,
             network, packets, packets_c2s, bytes_c2s, bytes_s2c, first_seen, last_seen, interval_end,
             client_name, server_name, app_family, app_service, application FROM flows)sql");
    while (st.executeStep()) {
      flow_key k;
      k.interval_start = u64(st.getColumn(0));
      k.client = ip_of(st.getColumn(1));
      k.server = ip_of(st.getColumn(2));
      k.client_class = static_cast<std::uint8_t>(st.getColumn(3).getInt());
      k.server_class = static_cast<std::uint8_t>(st.getColumn(4).getInt());
      k.server_port = static_cast<std::uint16_t>(st.getColumn(5).getInt());
      k.protocol = static_cast<std::uint8_t>(st.getColumn(6).getInt());
      k.network = strings_.get(st.getColumn(7).getString());
      k.client_name = strings_.get(st.getColumn(15).getString());
      k.server_name = strings_.get(st.getColumn(16).getString());
      auto& v = flows_[std::move(k)];
      v.packets = u64(st.getColumn(8));
      v.packets_c2s = u64(st.getColumn(9));
      v.bytes_c2s = u64(st.getColumn(10));
      v.bytes_s2c = u64(st.getColumn(11));
      v.first_seen = u64(st.getColumn(12));
      v.last_seen = u64(st.getColumn(13));
      v.interval_end = u64(st.getColumn(14));
      v.app_family = strings_.get(st.getColumn(17).getString());
      v.app_service = strings_.get(st.getColumn(18).getString());
      v.application = strings_.get(st.getColumn(19).getString());
      newest_ = std::max(newest_, v.last_seen);
    }
  }
  {
    SQLite::Statement st(db, R"sql(
      SELECT network, ip, first_seen, last_seen, bytes_in, bytes_out, packets_in, packets_out, ttl_out, mac
      FROM ip_sightings)sql");
    while (st.executeStep()) {
      auto& v = sightings_[addr_key{strings_.get(st.getColumn(0).getString()), ip_of(st.getColumn(1)), u64(st.getColumn(9))}];
      v.first_seen = u64(st.getColumn(2));
      v.last_seen = u64(st.getColumn(3));
      v.bytes_in = u64(st.getColumn(4));
      v.bytes_out = u64(st.getColumn(5));
      v.packets_in = u64(st.getColumn(6));
      v.packets_out = u64(st.getColumn(7));
      v.ttl_out = static_cast<std::uint8_t>(st.getColumn(8).getInt());
      newest_ = std::max(newest_, v.last_seen);
    }
  }
  {
    SQLite::Statement st(db, "SELECT network, ip, mac, ttl FROM ip_ttls ORDER BY network, ip, mac, ttl");
    while (st.executeStep()) {
      auto& v = sightings_[addr_key{strings_.get(st.getColumn(0).getString()), ip_of(st.getColumn(1)), u64(st.getColumn(2))}];
      v.ttls.push_back(static_cast<std::uint8_t>(st.getColumn(3).getInt()));
    }
  }
  {
    SQLite::Statement st(db, "SELECT network, ip, mac, source, first_seen, last_seen, packets FROM bindings");
    while (st.executeStep()) {
      auto& v = bindings_[binding_key{strings_.get(st.getColumn(0).getString()), ip_of(st.getColumn(1)), u64(st.getColumn(2)),
                                      static_cast<std::uint8_t>(st.getColumn(3).getInt())}];
      v.first_seen = u64(st.getColumn(4));
      v.last_seen = u64(st.getColumn(5));
      v.packets = u64(st.getColumn(6));
      newest_ = std::max(newest_, v.last_seen);
    }
  }
  {
    SQLite::Statement st(db, R"sql(
      SELECT network, mac, ip, source, field, value, confidence, first_seen, last_seen, count
      FROM observations)sql");
    while (st.executeStep()) {
      const auto s = source_of(st.getColumn(3).getText());
      const auto f = proto::field_name::find(st.getColumn(4).getText());
      if (!s || !f) {
        ++unknown_names_;  // a newer version's name: its row stays in the table
        continue;
      }
      auto& v = observations_[observation_key{strings_.get(st.getColumn(0).getString()), u64(st.getColumn(1)),
                                              ip_of(st.getColumn(2)), s->first, s->second, *f,
                                              strings_.get(st.getColumn(5).getString())}];
      v.confidence = static_cast<std::uint8_t>(st.getColumn(6).getInt());
      v.first_seen = u64(st.getColumn(7));
      v.last_seen = u64(st.getColumn(8));
      v.count = static_cast<std::uint32_t>(std::min<std::uint64_t>(u64(st.getColumn(9)), UINT32_MAX));
      newest_ = std::max(newest_, v.last_seen);
    }
  }
  {
    SQLite::Statement st(db, "SELECT mac, packets FROM gateways");
    while (st.executeStep()) gateways_[u64(st.getColumn(0))].packets = u64(st.getColumn(1));
  }
}

std::uint64_t model::save(SQLite::Database& db) {
  std::uint64_t rows = 0;
  if (pruned_before_ != 0) {
    SQLite::Statement st(db, "DELETE FROM flows WHERE interval_end < ?");
    st.bind(1, i64(pruned_before_));
    st.exec();
    pruned_before_ = 0;
  }
  rows += save_dirty(db, R"sql(
      INSERT OR REPLACE INTO flows(interval_start, client, server, client_class, server_class, server_port,
                                   protocol, network, packets, packets_c2s, bytes_c2s, bytes_s2c, first_seen,
                                   last_seen, interval_end, client_name, server_name, app_family, app_service,
                                   application)
      VALUES)sql",
                     20, flows_, [](SQLite::Statement& st, int b, const flow_key& k, const flow_value& v) {
                       st.bind(b + 1, i64(k.interval_start));
                       bind_ip(st, b + 2, k.client);
                       bind_ip(st, b + 3, k.server);
                       st.bind(b + 4, int{k.client_class});
                       st.bind(b + 5, int{k.server_class});
                       st.bind(b + 6, int{k.server_port});
                       st.bind(b + 7, int{k.protocol});
                       st.bindNoCopy(b + 8, k.network);
                       st.bind(b + 9, i64(v.packets));
                       st.bind(b + 10, i64(v.packets_c2s));
                       st.bind(b + 11, i64(v.bytes_c2s));
                       st.bind(b + 12, i64(v.bytes_s2c));
                       st.bind(b + 13, i64(v.first_seen));
                       st.bind(b + 14, i64(v.last_seen));
                       st.bind(b + 15, i64(v.interval_end));
                       st.bindNoCopy(b + 16, k.client_name);
                       st.bindNoCopy(b + 17, k.server_name);
                       st.bindNoCopy(b + 18, v.app_family);
                       st.bindNoCopy(b + 19, v.app_service);
                       st.bindNoCopy(b + 20, v.application);
                     });
  // A sighting's TTLs are rows of their own, written after the sightings,
  // many to a statement as well.
  std::vector<std::pair<const addr_key*, std::uint8_t>> ttls;
  rows += save_dirty(db, R"sql(
      INSERT OR REPLACE INTO ip_sightings(network, ip, first_seen, last_seen, bytes_in, bytes_out,
                                          packets_in, packets_out, ttl_out, mac)
      VALUES)sql",
                     10, sightings_, [&ttls](SQLite::Statement& st, int b, const addr_key& k, const sighting_value& v) {
                       st.bindNoCopy(b + 1, k.network);
                       bind_ip(st, b + 2, k.ip);
                       st.bind(b + 3, i64(v.first_seen));
                       st.bind(b + 4, i64(v.last_seen));
                       st.bind(b + 5, i64(v.bytes_in));
                       st.bind(b + 6, i64(v.bytes_out));
                       st.bind(b + 7, i64(v.packets_in));
                       st.bind(b + 8, i64(v.packets_out));
                       st.bind(b + 9, int{v.ttl_out});
                       st.bind(b + 10, i64(k.mac));
                       for (auto t : v.ttls) ttls.emplace_back(&k, t);
                     });
  {
    row_writer w(db, "INSERT OR IGNORE INTO ip_ttls(network, ip, ttl, mac) VALUES", 4, ttls.size());
    for (const auto& [k, t] : ttls) {
      w.st().bindNoCopy(w.offset() + 1, k->network);
      bind_ip(w.st(), w.offset() + 2, k->ip);
      w.st().bind(w.offset() + 3, int{t});
      w.st().bind(w.offset() + 4, i64(k->mac));
      w.row_done();
    }
  }
  rows += save_dirty(db, R"sql(
      INSERT OR REPLACE INTO bindings(network, ip, mac, source, first_seen, last_seen, packets)
      VALUES)sql",
                     7, bindings_, [](SQLite::Statement& st, int b, const binding_key& k, const binding_value& v) {
                       st.bindNoCopy(b + 1, k.network);
                       bind_ip(st, b + 2, k.ip);
                       st.bind(b + 3, i64(k.mac));
                       st.bind(b + 4, int{k.source});
                       st.bind(b + 5, i64(v.first_seen));
                       st.bind(b + 6, i64(v.last_seen));
                       st.bind(b + 7, i64(v.packets));
                     });
  rows += save_dirty(db, R"sql(
      INSERT OR REPLACE INTO observations(network, mac, ip, source, field, value, confidence, first_seen,
                                          last_seen, count)
      VALUES)sql",
                     10, observations_,
                     [](SQLite::Statement& st, int b, const observation_key& k, const observation_value& v) {
                       st.bindNoCopy(b + 1, k.network.str());
                       st.bind(b + 2, i64(k.mac));
                       bind_ip(st, b + 3, k.ip);
                       // (The vocabulary's names are string literals, and a rule's source an
                       // interned string: both end with a NUL, as a bound text must.)
                       st.bindNoCopy(b + 4, k.source_text().data());
                       st.bindNoCopy(b + 5, k.field.str().data());
                       st.bindNoCopy(b + 6, k.value.str());
                       st.bind(b + 7, int{v.confidence});
                       st.bind(b + 8, i64(v.first_seen));
                       st.bind(b + 9, i64(v.last_seen));
                       st.bind(b + 10, i64(v.count));
                     });
  rows += save_dirty(db, "INSERT OR REPLACE INTO gateways(mac, packets) VALUES", 2, gateways_,
                     [](SQLite::Statement& st, int b, std::uint64_t mac, const gateway_value& g) {
                       st.bind(b + 1, i64(mac));
                       st.bind(b + 2, i64(g.packets));
                     });
  return rows;
}

std::uint64_t string_pool::approx_bytes() const {
  // A hash node (next pointer, string, cached hash) and the bucket array.
  std::uint64_t n = set_.bucket_count() * sizeof(void*);
  for (const auto& s : set_) n += sizeof(void*) + sizeof(std::string) + sizeof(std::size_t) + string_heap(s);
  return n;
}

std::uint64_t model::approx_bytes() const {
  // A red-black tree node: three pointers and a colour beside the pair.
  constexpr std::size_t node = 32;
  std::uint64_t n = 0;
  for (const auto& [k, v] : flows_) {
    n += node + sizeof(k) + sizeof(v);  // the strings are the pool's
  }
  for (const auto& [k, v] : sightings_) n += node + sizeof(k) + sizeof(v) + v.ttls.capacity();
  n += bindings_.size() * (node + sizeof(binding_key) + sizeof(binding_value));
  n += observations_.size() * (node + sizeof(observation_key) + sizeof(observation_value));
  n += strings_.approx_bytes();
  n += gateways_.size() * (node + sizeof(std::uint64_t) + sizeof(gateway_value));
  return n;
}

}  // namespace tapsense::uplink

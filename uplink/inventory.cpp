#include "uplink/inventory.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "common/schema/report.capnp.h"

namespace tapsense::uplink {

namespace {
constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied_batches(
  producer TEXT NOT NULL, batch_id INTEGER NOT NULL,
  PRIMARY KEY(producer, batch_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ended_producers(producer TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ip_sightings(
  network TEXT NOT NULL, ip BLOB NOT NULL,
  first_seen INTEGER, last_seen INTEGER,
  bytes_in INTEGER, bytes_out INTEGER, packets_in INTEGER, packets_out INTEGER,
  ttl_out INTEGER,
  PRIMARY KEY(network, ip)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ip_ttls(
  network TEXT NOT NULL, ip BLOB NOT NULL, ttl INTEGER NOT NULL,
  PRIMARY KEY(network, ip, ttl)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bindings(
  network TEXT NOT NULL, ip BLOB NOT NULL, mac INTEGER NOT NULL, source INTEGER NOT NULL,
  first_seen INTEGER, last_seen INTEGER, packets INTEGER,
  PRIMARY KEY(network, ip, mac, source)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gateways(mac INTEGER PRIMARY KEY, packets INTEGER);
CREATE TABLE IF NOT EXISTS flows(
  interval_start INTEGER NOT NULL, client BLOB NOT NULL, server BLOB NOT NULL,
  client_class INTEGER NOT NULL, server_class INTEGER NOT NULL,
  server_port INTEGER NOT NULL, protocol INTEGER NOT NULL,
  network TEXT NOT NULL DEFAULT '',
  packets INTEGER, packets_c2s INTEGER, bytes_c2s INTEGER, bytes_s2c INTEGER,
  first_seen INTEGER, last_seen INTEGER, interval_end INTEGER,
  client_name TEXT NOT NULL DEFAULT '', server_name TEXT NOT NULL DEFAULT '',
  app_family TEXT NOT NULL DEFAULT '', app_service TEXT NOT NULL DEFAULT '',
  application TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(interval_start, client, server, client_class, server_class, server_port, protocol, network,
              client_name, server_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS observations(
  network TEXT NOT NULL, mac INTEGER NOT NULL, ip BLOB NOT NULL, source TEXT NOT NULL, field TEXT NOT NULL,
  value TEXT NOT NULL, confidence INTEGER, first_seen INTEGER, last_seen INTEGER, count INTEGER,
  PRIMARY KEY(network, mac, ip, source, field, value)) WITHOUT ROWID;
)sql";

// An empty Data may have a null pointer, which SQLite would bind as NULL;
// the key columns want an empty blob.
void bind_blob(SQLite::Statement& st, int i, capnp::Data::Reader d) {
  static const kj::byte none = 0;
  st.bind(i, d.size() == 0 ? &none : d.begin(), static_cast<int>(d.size()));
}
}  // namespace

inventory::inventory(const std::string& path)
    : db_(std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)) {
  db_->exec("PRAGMA journal_mode=WAL");
  db_->exec("PRAGMA synchronous=NORMAL");
  // The working set of a busy sensor (flows, sightings, observations of tens
  // of thousands of addresses) is tens of MB: a 64 MiB page cache keeps it
  // in memory instead of re-reading pages from the WAL on every upsert, and
  // checkpointing every 64 MiB of WAL instead of 4 MiB writes a page to the
  // database once per checkpoint rather than many times.
  db_->exec("PRAGMA cache_size=-65536");
  db_->exec("PRAGMA wal_autocheckpoint=16384");
  db_->exec("PRAGMA temp_store=MEMORY");
  db_->exec(schema_sql);
  db_->exec("INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1')");
  claim_ = std::make_unique<SQLite::Statement>(
      *db_, "INSERT OR IGNORE INTO applied_batches(producer, batch_id) VALUES(?, ?)");
  flow_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
    INSERT INTO flows(interval_start, client, server, client_class, server_class, server_port,
                      protocol, network, packets, packets_c2s, bytes_c2s, bytes_s2c, first_seen, last_seen,
                      interval_end, client_name, server_name, app_family, app_service, application)
    VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT DO UPDATE SET
      packets = packets + excluded.packets, packets_c2s = packets_c2s + excluded.packets_c2s,
      bytes_c2s = bytes_c2s + excluded.bytes_c2s, bytes_s2c = bytes_s2c + excluded.bytes_s2c,
      first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
      app_family = CASE WHEN app_family = '' THEN excluded.app_family ELSE app_family END,
      app_service = CASE WHEN app_service = '' THEN excluded.app_service ELSE app_service END,
      application = CASE WHEN application = '' THEN excluded.application ELSE application END
  )sql");
  sighting_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
    INSERT INTO ip_sightings(network, ip, first_seen, last_seen, bytes_in, bytes_out,
                             packets_in, packets_out, ttl_out)
    VALUES(?,?,?,?,?,?,?,?,?)
    ON CONFLICT DO UPDATE SET
      first_seen = min(first_seen, excluded.first_seen),
      ttl_out = CASE WHEN excluded.last_seen >= last_seen AND excluded.packets_out > 0
                     THEN excluded.ttl_out ELSE ttl_out END,
      last_seen = max(last_seen, excluded.last_seen),
      bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out,
      packets_in = packets_in + excluded.packets_in, packets_out = packets_out + excluded.packets_out
  )sql");
  binding_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
    INSERT INTO bindings(ip, mac, source, first_seen, last_seen, packets, network) VALUES(?,?,?,?,?,?,?)
    ON CONFLICT DO UPDATE SET
      first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
      packets = packets + excluded.packets
  )sql");
  ttl_ = std::make_unique<SQLite::Statement>(
      *db_, "INSERT OR IGNORE INTO ip_ttls(network, ip, ttl) VALUES(?,?,?)");
  gateway_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
    INSERT INTO gateways(mac, packets) VALUES(?, 1)
    ON CONFLICT DO UPDATE SET packets = packets + 1
  )sql");
  observation_ = std::make_unique<SQLite::Statement>(*db_, R"sql(
    INSERT INTO observations(mac, ip, source, field, value, confidence, first_seen, last_seen, count, network)
    VALUES(?,?,?,?,?,?,?,?,1,?)
    ON CONFLICT DO UPDATE SET
      confidence = max(confidence, excluded.confidence),
      first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
      count = count + 1
  )sql");
}

inventory::~inventory() {
  if (in_tx_) {
    try {
      db_->exec("ROLLBACK");
    } catch (...) {
    }
  }
}

void inventory::begin() {
  db_->exec("BEGIN");
  in_tx_ = true;
}

void inventory::commit() {
  db_->exec("COMMIT");
  in_tx_ = false;
}

void inventory::rollback() noexcept {
  if (!in_tx_) return;
  try {
    db_->exec("ROLLBACK");
  } catch (...) {
    // SQLite may already have rolled back (SQLITE_FULL does): nothing to undo.
  }
  in_tx_ = false;
}

bool inventory::claim(const std::string& producer, std::uint64_t id) {
  claim_->bind(1, producer);
  claim_->bind(2, static_cast<std::int64_t>(id));
  const int changed = claim_->exec();
  claim_->reset();
  if (changed == 0) {
    ++replayed_;
    return false;
  }
  ++applied_;
  return true;
}

bool inventory::apply_flow_batch(kj::ArrayPtr<const capnp::word> words) {
  try {
    capnp::FlatArrayMessageReader rd(words);
    auto b = rd.getRoot<schema::FlowBatch>();
    if (!claim(b.getProducer(), b.getBatchId())) {
      return false;
    }
    for (auto f : b.getFlows()) {
      auto& st = *flow_;
      st.bind(1, static_cast<std::int64_t>(f.getIntervalStart()));
      bind_blob(st, 2, f.getClient());
      bind_blob(st, 3, f.getServer());
      st.bind(4, static_cast<int>(f.getClientClass()));
      st.bind(5, static_cast<int>(f.getServerClass()));
      st.bind(6, static_cast<int>(f.getServerPort()));
      st.bind(7, static_cast<int>(f.getProtocol()));
      st.bind(8, f.getNetwork().cStr());
      st.bind(9, static_cast<std::int64_t>(f.getPackets()));
      st.bind(10, static_cast<std::int64_t>(f.getPacketsClientToServer()));
      st.bind(11, static_cast<std::int64_t>(f.getBytesClientToServer()));
      st.bind(12, static_cast<std::int64_t>(f.getBytesServerToClient()));
      st.bind(13, static_cast<std::int64_t>(f.getFirstSeen()));
      st.bind(14, static_cast<std::int64_t>(f.getLastSeen()));
      st.bind(15, static_cast<std::int64_t>(f.getIntervalEnd()));
      // An unassigned client (0.0.0.0, ::) is told apart by its MAC, kept
      // where monitored sites keep their name (the name column is part of
      // the flow's key; the two never meet: a monitored side has an address).
      if (f.getClientMac() != 0) {
        st.bind(16, net::mac_address::from_u64(f.getClientMac()).to_string());
      } else {
        st.bind(16, f.getClientName().cStr());
      }
      st.bind(17, f.getServerName().cStr());
      st.bind(18, f.getAppFamily().cStr());
      st.bind(19, f.getAppService().cStr());
      st.bind(20, f.getApplication().cStr());
      st.exec();
      st.reset();
    }
    return true;
  } catch (const kj::Exception&) {
    ++invalid_;
    return false;
  }
}

bool inventory::apply_sighting_batch(kj::ArrayPtr<const capnp::word> words) {
  try {
    capnp::FlatArrayMessageReader rd(words);
    auto b = rd.getRoot<schema::SightingBatch>();
    if (!claim(b.getProducer(), b.getBatchId())) {
      return false;
    }
    for (auto s : b.getSightings()) {
      auto& st = *sighting_;
      st.bind(1, s.getNetwork().cStr());
      bind_blob(st, 2, s.getIp());
      st.bind(3, static_cast<std::int64_t>(s.getFirstSeen()));
      st.bind(4, static_cast<std::int64_t>(s.getLastSeen()));
      st.bind(5, static_cast<std::int64_t>(s.getBytesIn()));
      st.bind(6, static_cast<std::int64_t>(s.getBytesOut()));
      st.bind(7, static_cast<std::int64_t>(s.getPacketsIn()));
      st.bind(8, static_cast<std::int64_t>(s.getPacketsOut()));
      st.bind(9, static_cast<int>(s.getTtlOut()));
      st.exec();
      st.reset();
      for (auto t : s.getTtls()) {
        ttl_->bind(1, s.getNetwork().cStr());
        bind_blob(*ttl_, 2, s.getIp());
        ttl_->bind(3, static_cast<int>(t));
        ttl_->exec();
        ttl_->reset();
      }
    }
    for (auto bnd : b.getBindings()) {
      auto& st = *binding_;
      bind_blob(st, 1, bnd.getIp());
      st.bind(2, static_cast<std::int64_t>(bnd.getMac()));
      st.bind(3, static_cast<int>(bnd.getSource()));
      st.bind(4, static_cast<std::int64_t>(bnd.getFirstSeen()));
      st.bind(5, static_cast<std::int64_t>(bnd.getLastSeen()));
      st.bind(6, static_cast<std::int64_t>(bnd.getPackets()));
      st.bind(7, bnd.getNetwork().cStr());
      st.exec();
      st.reset();
    }
    for (auto mac : b.getGatewayMacs()) {
      gateway_->bind(1, static_cast<std::int64_t>(mac));
      gateway_->exec();
      gateway_->reset();
    }
    return true;
  } catch (const kj::Exception&) {
    ++invalid_;
    return false;
  }
}

bool inventory::apply_observation_batch(kj::ArrayPtr<const capnp::word> words) {
  try {
    capnp::FlatArrayMessageReader rd(words);
    auto b = rd.getRoot<schema::ObservationBatch>();
    if (!claim(b.getProducer(), b.getBatchId())) {
      return false;
    }
    for (auto o : b.getObservations()) {
      if (filter_ && filter_(o.getMac(), o.getIp())) {
        ++filtered_;
        continue;  // about an excluded asset: never stored
      }
      auto& st = *observation_;
      st.bind(1, static_cast<std::int64_t>(o.getMac()));
      bind_blob(st, 2, o.getIp());
      st.bind(3, o.getSource().cStr());
      st.bind(4, o.getField().cStr());
      st.bind(5, o.getValue().cStr());
      st.bind(6, static_cast<int>(o.getConfidence()));
      st.bind(7, static_cast<std::int64_t>(o.getTs()));
      st.bind(8, static_cast<std::int64_t>(o.getTs()));
      st.bind(9, o.getNetwork().cStr());
      st.exec();
      st.reset();
    }
    return true;
  } catch (const kj::Exception&) {
    ++invalid_;
    return false;
  }
}

std::uint64_t inventory::prune_flows(std::uint64_t before_ns) {
  SQLite::Statement st(*db_, "DELETE FROM flows WHERE interval_end < ?");
  st.bind(1, static_cast<std::int64_t>(before_ns));
  return static_cast<std::uint64_t>(st.exec());
}

void inventory::mark_ended(const std::string& producer) {
  SQLite::Statement st(*db_, "INSERT OR IGNORE INTO ended_producers(producer) VALUES(?)");
  st.bind(1, producer);
  st.exec();
}

std::set<std::string> inventory::ended() const {
  std::set<std::string> out;
  SQLite::Statement st(*db_, "SELECT producer FROM ended_producers");
  while (st.executeStep()) {
    out.insert(st.getColumn(0).getString());
  }
  return out;
}

}  // namespace tapsense::uplink

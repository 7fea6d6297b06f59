#include "uplink/inventory.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdlib>
#include <cstring>

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
  ttl_out INTEGER, mac INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(network, ip, mac)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ip_ttls(
  network TEXT NOT NULL, ip BLOB NOT NULL, ttl INTEGER NOT NULL, mac INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(network, ip, mac, ttl)) WITHOUT ROWID;
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
CREATE TABLE IF NOT EXISTS journal(
  seq INTEGER PRIMARY KEY, type INTEGER NOT NULL, frame BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS observations(
  network TEXT NOT NULL, mac INTEGER NOT NULL, ip BLOB NOT NULL, source TEXT NOT NULL, field TEXT NOT NULL,
  value TEXT NOT NULL, confidence INTEGER, first_seen INTEGER, last_seen INTEGER, count INTEGER,
  PRIMARY KEY(network, mac, ip, source, field, value)) WITHOUT ROWID;
)sql";

// Version 2 kept one sighting per address; version 3 one per (address,
// MAC). Old rows become the address's sighting without a MAC (0), which
// build_assets gives to the address's owner, as version 2 did.
void upgrade(SQLite::Database& db) {
  if (!db.tableExists("ip_sightings")) return;
  bool has_mac = false;
  {
    SQLite::Statement cols(db, "SELECT name FROM pragma_table_info('ip_sightings')");
    while (cols.executeStep()) has_mac = has_mac || cols.getColumn(0).getString() == "mac";
  }
  if (has_mac) return;
  SQLite::Transaction tx(db);
  db.exec(R"sql(
    ALTER TABLE ip_sightings RENAME TO ip_sightings_v2;
    ALTER TABLE ip_ttls RENAME TO ip_ttls_v2;
  )sql");
  db.exec(schema_sql);
  db.exec(R"sql(
    INSERT INTO ip_sightings(network, ip, first_seen, last_seen, bytes_in, bytes_out, packets_in, packets_out,
                             ttl_out, mac)
      SELECT network, ip, first_seen, last_seen, bytes_in, bytes_out, packets_in, packets_out, ttl_out, 0
      FROM ip_sightings_v2;
    INSERT INTO ip_ttls(network, ip, ttl, mac) SELECT network, ip, ttl, 0 FROM ip_ttls_v2;
    DROP TABLE ip_sightings_v2;
    DROP TABLE ip_ttls_v2;
  )sql");
  tx.commit();
}

// Before version 4 a DHCP lease or an address a device announced was kept
// only as an observation's text ("dhcp"/"ip" = "10.0.0.5"), which the
// asset builder parsed; from 4 on it is a row of bindings. The upgrade makes
// those rows once, from the observations' text.
void upgrade_bindings(SQLite::Database& db) {
  if (!db.tableExists("meta") || !db.tableExists("observations")) return;
  SQLite::Statement ver(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!ver.executeStep() || std::atoi(ver.getColumn(0).getText()) >= 4) return;
  SQLite::Transaction tx(db);
  SQLite::Statement rows(db, R"sql(
    SELECT network, mac, source, field, value, first_seen, last_seen FROM observations
    WHERE mac != 0 AND field IN ('ip', 'requested_ip'))sql");
  SQLite::Statement put(db, R"sql(
    INSERT INTO bindings(network, ip, mac, source, first_seen, last_seen, packets) VALUES(?,?,?,?,?,?,1)
    ON CONFLICT(network, ip, mac, source) DO UPDATE SET
      first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen))sql");
  while (rows.executeStep()) {
    const auto bs = legacy_binding(rows.getColumn(2).getText(), rows.getColumn(3).getText());
    const auto a = net::ip_address::parse(rows.getColumn(4).getText());
    if (!bs || !a || a->is_unspecified()) continue;
    put.bind(1, rows.getColumn(0).getString());
    put.bind(2, a->b.data(), 16);
    put.bind(3, rows.getColumn(1).getInt64());
    put.bind(4, int{*bs});
    put.bind(5, rows.getColumn(5).getInt64());
    put.bind(6, rows.getColumn(6).getInt64());
    put.exec();
    put.reset();
  }
  db.exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
  tx.commit();
}

}  // namespace

// Journal frame types (ipc::frame_type values would tie the file to the
// ring's numbering; these are the file's own).
enum journal_type : int { flow_frame = 1, sighting_frame = 2, observation_frame = 3 };

inventory::inventory(const std::string& path)
    // One thread uses the connection at a time (the main loop, or the last
    // checkpoint while the main thread builds outputs from the model): no
    // mutex around every bind and step (a tenth of a checkpoint's time).
    : db_(std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE |
                                                       SQLite::OPEN_NOMUTEX)) {
  db_->exec("PRAGMA journal_mode=WAL");
  db_->exec("PRAGMA synchronous=NORMAL");
  // Checkpoints write many rows at once: a 64 MiB page cache keeps the
  // tables' pages in memory while they do, and checkpointing the WAL every
  // 64 MiB instead of 4 MiB writes a page to the database once per
  // checkpoint rather than many times.
  db_->exec("PRAGMA cache_size=-65536");
  db_->exec("PRAGMA wal_autocheckpoint=16384");
  db_->exec("PRAGMA temp_store=MEMORY");
  // Debian's SQLite overwrites every deleted page with zeros: emptying the
  // journal at a checkpoint then wrote 26 MB of zeros for nothing on the
  // 30-copy benchmark (its rows are the same facts the tables keep).
  db_->exec("PRAGMA secure_delete=FAST");
  upgrade(*db_);
  db_->exec(schema_sql);
  upgrade_bindings(*db_);
  db_->exec("INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '4')");
  db_->exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
  claim_ = std::make_unique<SQLite::Statement>(
      *db_, "INSERT OR IGNORE INTO applied_batches(producer, batch_id) VALUES(?, ?)");
  journal_ = std::make_unique<SQLite::Statement>(*db_, "INSERT INTO journal(type, frame) VALUES(?, ?)");
}

inventory::~inventory() {
  if (in_tx_ && db_) {
    try {
      db_->exec("ROLLBACK");
    } catch (...) {
    }
  }
}

void inventory::load() {
  model_ = uplink::model{};
  model_.load(*db_);
  journal_bytes_ = 0;
  SQLite::Statement st(*db_, "SELECT type, frame FROM journal ORDER BY seq");
  while (st.executeStep()) {
    const auto type = st.getColumn(0).getInt();
    const auto frame = st.getColumn(1);
    // SQLite's copy of the blob is not 8-byte aligned: capnp wants words.
    auto words = kj::heapArray<capnp::word>(static_cast<std::size_t>(frame.getBytes()) / sizeof(capnp::word));
    std::memcpy(words.begin(), frame.getBlob(), words.size() * sizeof(capnp::word));
    apply_to_model(type, words);
    journal_bytes_ += static_cast<std::uint64_t>(frame.getBytes());
  }
  stale_ = false;
}

void inventory::close() {
  rollback();
  claim_.reset();
  journal_.reset();
  db_.reset();
}

void inventory::begin() {
  if (stale_) load();
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
  stale_ = true;
}

std::uint64_t inventory::checkpoint() {
  if (stale_) load();
  SQLite::Transaction tx(*db_);
  // The journal's pages are freed first, so the tables' rows reuse them
  // (a 27 MB file instead of 40 MB after the 30-copy benchmark).
  db_->exec("DELETE FROM journal");
  const auto rows = model_.save(*db_);
  tx.commit();
  // The WAL into the database now, in the checkpoint's own time (the last
  // one runs beside the outputs), not when the connection closes after
  // the run has said it is done (0.1 s on the 30-copy benchmark).
  db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  journal_bytes_ = 0;
  return rows;
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

void inventory::journal(int type, kj::ArrayPtr<const capnp::word> words) {
  const auto bytes = words.size() * sizeof(capnp::word);
  journal_->bind(1, type);
  journal_->bindNoCopy(2, static_cast<const void*>(words.begin()), static_cast<int>(bytes));
  journal_->exec();
  journal_->reset();
  journal_bytes_ += bytes;
}

bool inventory::apply_to_model(int type, kj::ArrayPtr<const capnp::word> words) {
  try {
    capnp::FlatArrayMessageReader rd(words);
    switch (type) {
      case flow_frame: model_.apply(rd.getRoot<schema::FlowBatch>()); break;
      case sighting_frame: model_.apply(rd.getRoot<schema::SightingBatch>()); break;
      case observation_frame: filtered_ += model_.apply(rd.getRoot<schema::ObservationBatch>(), filter_); break;
      default: return false;
    }
    return true;
  } catch (const kj::Exception&) {
    // The facts before the bad one stay applied, as the journal replays them.
    return false;
  }
}

namespace {
// The batch's (producer, id), or nullopt if the frame is not a message.
template <typename Batch>
std::optional<std::pair<std::string, std::uint64_t>> batch_id(kj::ArrayPtr<const capnp::word> words) {
  try {
    capnp::FlatArrayMessageReader rd(words);
    auto b = rd.getRoot<Batch>();
    return std::pair<std::string, std::uint64_t>{b.getProducer().cStr(), b.getBatchId()};
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}
}  // namespace

template <typename Batch>
bool inventory::apply_frame(int type, kj::ArrayPtr<const capnp::word> words) {
  const auto id = batch_id<Batch>(words);
  if (!id) {
    ++invalid_;
    return false;
  }
  if (!claim(id->first, id->second)) return false;
  journal(type, words);
  if (!apply_to_model(type, words)) {
    ++invalid_;
    return false;
  }
  return true;
}

bool inventory::apply_flow_batch(kj::ArrayPtr<const capnp::word> words) {
  return apply_frame<schema::FlowBatch>(flow_frame, words);
}

bool inventory::apply_sighting_batch(kj::ArrayPtr<const capnp::word> words) {
  return apply_frame<schema::SightingBatch>(sighting_frame, words);
}

bool inventory::apply_observation_batch(kj::ArrayPtr<const capnp::word> words) {
  return apply_frame<schema::ObservationBatch>(observation_frame, words);
}

std::uint64_t inventory::prune_flows(std::uint64_t before_ns) { return model_.prune_flows(before_ns); }

bool inventory::begin_run(const std::string& token) {
  {
    SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key = 'run'");
    if (q.executeStep() && q.getColumn(0).getString() == token) return false;
  }
  SQLite::Transaction tx(*db_);
  db_->exec("DELETE FROM applied_batches");
  db_->exec("DELETE FROM ended_producers");
  SQLite::Statement u(*db_, "INSERT OR REPLACE INTO meta(key, value) VALUES('run', ?)");
  u.bind(1, token);
  u.exec();
  tx.commit();
  return true;
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

#include "platform/db.h"

#include <libpq-fe.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <unordered_map>

namespace tapsense::platform {

std::int64_t sql_row::i64(std::size_t i) const {
  if (null(i)) {
    return 0;
  }
  const std::string& s = *cols[i];
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) {
    // PostgreSQL renders booleans as t/f; nothing here stores them, but be exact.
    return s == "t" ? 1 : 0;
  }
  return v;
}

std::optional<sql_row> db::one(std::string_view sql, const std::vector<sql_value>& params) {
  auto rows = query(sql, params);
  if (rows.empty()) {
    return std::nullopt;
  }
  return std::move(rows.front());
}

namespace {

class sqlite_db final : public db {
 public:
  explicit sqlite_db(const std::string& path)
      : d_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
    // The CLI (user add, token add) may write while the server runs.
    d_.setBusyTimeout(10000);
    d_.exec("PRAGMA journal_mode=WAL");
    d_.exec("PRAGMA foreign_keys=ON");
  }
  dialect kind() const override { return dialect::sqlite; }

  std::vector<sql_row> query(std::string_view sql, const std::vector<sql_value>& params) override {
    try {
      SQLite::Statement st(d_, std::string(sql));
      for (std::size_t i = 0; i < params.size(); ++i) {
        int idx = static_cast<int>(i + 1);
        if (std::holds_alternative<std::int64_t>(params[i])) {
          st.bind(idx, std::get<std::int64_t>(params[i]));
        } else if (std::holds_alternative<std::string>(params[i])) {
          st.bind(idx, std::get<std::string>(params[i]));
        } else {
          st.bind(idx);
        }
      }
      std::vector<sql_row> out;
      while (st.executeStep()) {
        sql_row r;
        int n = st.getColumnCount();
        for (int c = 0; c < n; ++c) {
          auto col = st.getColumn(c);
          if (col.isNull()) {
            r.cols.emplace_back(std::nullopt);
          } else {
            r.cols.emplace_back(col.getString());
          }
        }
        out.push_back(std::move(r));
      }
      return out;
    } catch (const SQLite::Exception& e) {
      bool constraint = (e.getErrorCode() & 0xff) == SQLITE_CONSTRAINT;
      throw db_error(std::string("sqlite: ") + e.what(), constraint);
    }
  }
  void begin() override { query("BEGIN IMMEDIATE", {}); }
  void commit() override { query("COMMIT", {}); }
  void rollback() override { query("ROLLBACK", {}); }

 private:
  SQLite::Database d_;
};

class pg_db final : public db {
 public:
  explicit pg_db(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    if (c_ == nullptr || PQstatus(c_) != CONNECTION_OK) {
      std::string why = c_ != nullptr ? PQerrorMessage(c_) : "out of memory";
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
        why.pop_back();
      }
      if (c_ != nullptr) {
        PQfinish(c_);
      }
      throw db_error("postgresql: cannot connect: " + why, false);
    }
    query("SET client_min_messages = warning", {});
  }
  ~pg_db() override { PQfinish(c_); }
  pg_db(const pg_db&) = delete;
  pg_db& operator=(const pg_db&) = delete;
  dialect kind() const override { return dialect::postgres; }

  std::vector<sql_row> query(std::string_view sql, const std::vector<sql_value>& params) override {
    // `?` -> `$n`. The platform's SQL never has a question mark in a literal.
    std::string text;
    text.reserve(sql.size() + 16);
    int n = 0;
    for (char ch : sql) {
      if (ch == '?') {
        text += '$';
        text += std::to_string(++n);
      } else {
        text += ch;
      }
    }
    std::vector<std::string> storage(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (std::holds_alternative<std::int64_t>(params[i])) {
        storage[i] = std::to_string(std::get<std::int64_t>(params[i]));
        values[i] = storage[i].c_str();
      } else if (std::holds_alternative<std::string>(params[i])) {
        storage[i] = std::get<std::string>(params[i]);
        values[i] = storage[i].c_str();
      }
    }
    // Each distinct statement is parsed and planned once per connection
    // (PQprepare), then only executed: the report path runs the same few
    // statements for every asset.
    auto it = prepared_.find(text);
    if (it == prepared_.end()) {
      std::string name = "s" + std::to_string(prepared_.size() + 1);
      PGresult* pr = PQprepare(c_, name.c_str(), text.c_str(), static_cast<int>(params.size()), nullptr);
      auto pst = PQresultStatus(pr);
      if (pst != PGRES_COMMAND_OK) {
        std::string why = PQresultErrorMessage(pr);
        const char* state = PQresultErrorField(pr, PG_DIAG_SQLSTATE);
        bool constraint = state != nullptr && std::string_view(state).substr(0, 2) == "23";
        PQclear(pr);
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
          why.pop_back();
        }
        throw db_error("postgresql: " + why, constraint);
      }
      PQclear(pr);
      it = prepared_.emplace(text, name).first;
    }
    PGresult* res = PQexecPrepared(c_, it->second.c_str(), static_cast<int>(params.size()), values.data(), nullptr,
                                   nullptr, 0);
    auto st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string why = PQresultErrorMessage(res);
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      bool constraint = state != nullptr && std::string_view(state).substr(0, 2) == "23";
      PQclear(res);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
        why.pop_back();
      }
      throw db_error("postgresql: " + why, constraint);
    }
    std::vector<sql_row> out;
    int rows = PQntuples(res);
    int cols = PQnfields(res);
    out.reserve(static_cast<std::size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      sql_row row;
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(res, r, c) != 0) {
          row.cols.emplace_back(std::nullopt);
        } else {
          row.cols.emplace_back(std::string(PQgetvalue(res, r, c), static_cast<std::size_t>(PQgetlength(res, r, c))));
        }
      }
      out.push_back(std::move(row));
    }
    PQclear(res);
    return out;
  }
  void begin() override { query("BEGIN", {}); }
  void commit() override { query("COMMIT", {}); }
  void rollback() override { query("ROLLBACK", {}); }

 private:
  PGconn* c_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

// Numbered migrations. `%ID%` is the one dialect difference: an
// auto-numbered primary key. Everything else is the same SQL on both.
struct migration {
  int version;
  const char* sql;
};

const migration migrations[] = {
    {1, R"SQL(
CREATE TABLE users(id %ID%, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, pwhash TEXT NOT NULL,
  created BIGINT NOT NULL);
CREATE TABLE tokens(id %ID%, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash TEXT NOT NULL UNIQUE, created BIGINT NOT NULL);
CREATE TABLE sessions(hash TEXT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires BIGINT NOT NULL);
CREATE TABLE sensors(id %ID%, name TEXT NOT NULL UNIQUE, location TEXT NOT NULL, created BIGINT NOT NULL,
  code TEXT UNIQUE, code_expires BIGINT NOT NULL DEFAULT 0, code_used INTEGER NOT NULL DEFAULT 0,
  uid TEXT, key_hash TEXT, registered_at BIGINT, deregistered INTEGER NOT NULL DEFAULT 0,
  version TEXT NOT NULL DEFAULT '', hostname TEXT NOT NULL DEFAULT '',
  addresses TEXT NOT NULL DEFAULT '[]', macs TEXT NOT NULL DEFAULT '[]',
  last_checkin BIGINT, reported_state TEXT NOT NULL DEFAULT '', connected INTEGER NOT NULL DEFAULT 0,
  health TEXT NOT NULL DEFAULT '{}', interfaces TEXT NOT NULL DEFAULT '[]',
  config_revision BIGINT NOT NULL DEFAULT 0, config_hash TEXT NOT NULL DEFAULT '',
  applied_revision BIGINT NOT NULL DEFAULT 0, config_error TEXT NOT NULL DEFAULT '',
  failed_revision BIGINT NOT NULL DEFAULT 0, last_command_id BIGINT NOT NULL DEFAULT 0,
  last_report_id BIGINT NOT NULL DEFAULT 0, reported_last_report_id BIGINT NOT NULL DEFAULT 0,
  command_floor BIGINT NOT NULL DEFAULT 0);
CREATE TABLE commands(id %ID%, sensor_id BIGINT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL, command TEXT NOT NULL, created BIGINT NOT NULL, UNIQUE(sensor_id, seq));
CREATE TABLE events(id %ID%, sensor_id BIGINT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
  sensor_event_id BIGINT, origin TEXT NOT NULL, name TEXT NOT NULL, module TEXT NOT NULL,
  type TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, count BIGINT NOT NULL,
  message TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX events_sensor_event ON events(sensor_id, sensor_event_id);
CREATE TABLE config_docs(kind TEXT PRIMARY KEY, body TEXT NOT NULL, revision BIGINT NOT NULL);
CREATE TABLE interface_settings(sensor_id BIGINT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
  name TEXT NOT NULL, mode TEXT NOT NULL, erspan_address TEXT NOT NULL, PRIMARY KEY(sensor_id, name));
CREATE TABLE reports(sensor_id BIGINT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
  report_id BIGINT NOT NULL, received BIGINT NOT NULL, assets BIGINT NOT NULL, flows BIGINT NOT NULL,
  PRIMARY KEY(sensor_id, report_id));
CREATE TABLE assets(id %ID%, network TEXT NOT NULL, ip TEXT NOT NULL, mac TEXT NOT NULL,
  hostname TEXT NOT NULL, hostname_lc TEXT NOT NULL, vendor TEXT NOT NULL, os TEXT NOT NULL,
  device_type TEXT NOT NULL, device_class TEXT NOT NULL, model TEXT NOT NULL,
  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);
CREATE INDEX assets_mac ON assets(mac);
CREATE INDEX assets_hostname ON assets(network, hostname_lc);
CREATE INDEX assets_ip ON assets(network, ip);
CREATE TABLE sensor_assets(sensor_id BIGINT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
  skey TEXT NOT NULL, asset_id BIGINT NOT NULL REFERENCES assets(id), record TEXT NOT NULL,
  updated BIGINT NOT NULL, PRIMARY KEY(sensor_id, skey));
CREATE INDEX sensor_assets_asset ON sensor_assets(asset_id);
CREATE TABLE flows(id %ID%, sensor_id BIGINT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
  network TEXT NOT NULL, client TEXT NOT NULL, server TEXT NOT NULL, protocol INTEGER NOT NULL,
  server_port INTEGER NOT NULL, bytes_cs BIGINT NOT NULL, bytes_sc BIGINT NOT NULL,
  packets BIGINT NOT NULL, interval_start BIGINT NOT NULL, interval_end BIGINT NOT NULL,
  application TEXT NOT NULL);
CREATE INDEX flows_client ON flows(network, client);
CREATE INDEX flows_server ON flows(network, server);
)SQL"},
    // Fleet operations: subscriptions (their end dates; a sensor remembers
    // the sensor-subscription end it was paused for), the e-mail state of
    // each event (0 pending, 1 sent, 2 not mailed: history from before this
    // migration, info events, no recipients or no SMTP server), and the
    // Asset Reporting Stopped flag.
    {2, R"SQL(
CREATE TABLE subscriptions(kind TEXT PRIMARY KEY, inactive_from BIGINT, updated BIGINT NOT NULL);
ALTER TABLE sensors ADD COLUMN sub_paused_for BIGINT;
ALTER TABLE sensors ADD COLUMN reporting_stopped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN mail_state INTEGER NOT NULL DEFAULT 0;
UPDATE events SET mail_state = 2;
CREATE INDEX events_mail ON events(mail_state, id);
CREATE INDEX reports_received ON reports(sensor_id, received);
)SQL"},
    // The merge lookups ask for the oldest match (ORDER BY id LIMIT 1): with
    // id in the index that is its first entry. Without it PostgreSQL's
    // generic plan for a prepared lookup walked the whole table in id order
    // for every new asset (the load benchmark's reports slowed as the
    // inventory grew).
    {3, R"SQL(
DROP INDEX assets_mac;
DROP INDEX assets_hostname;
DROP INDEX assets_ip;
CREATE INDEX assets_mac ON assets(mac, id);
CREATE INDEX assets_hostname ON assets(network, hostname_lc, id);
CREATE INDEX assets_ip ON assets(network, ip, id);
)SQL"},
    // What the sensor says about a flow that the first schema dropped: an
    // unassigned client's MAC (DHCP from 0.0.0.0: the flow belongs to the
    // asset with that MAC, as traffic.json counts it), nDPI's family and
    // service (the console's Family and App/Service columns, ECS
    // network.protocol) and the client's packets (ECS source.packets).
    // Rows from before keep '' and 0: unknown.
    {4, R"SQL(
ALTER TABLE flows ADD COLUMN client_mac TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN app_family TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN app_service TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN packets_cs BIGINT NOT NULL DEFAULT 0;
CREATE INDEX flows_client_mac ON flows(network, client_mac);
)SQL"},
};

void apply_migrations(db& d) {
  d.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)");
  for (const auto& m : migrations) {
    transaction tx(d);
    if (d.kind() == db::dialect::postgres) {
      // Two platform instances starting on one database take turns.
      d.exec("LOCK TABLE schema_migrations IN EXCLUSIVE MODE");
    }
    if (d.one("SELECT 1 FROM schema_migrations WHERE version = ?", {std::int64_t{m.version}})) {
      continue;
    }
    std::string sql = m.sql;
    const std::string id = d.kind() == db::dialect::sqlite ? "INTEGER PRIMARY KEY" : "BIGSERIAL PRIMARY KEY";
    for (auto p = sql.find("%ID%"); p != std::string::npos; p = sql.find("%ID%", p)) {
      sql.replace(p, 4, id);
    }
    // One statement at a time: libpq's extended protocol takes one.
    std::size_t start = 0;
    while (start < sql.size()) {
      auto end = sql.find(';', start);
      if (end == std::string::npos) {
        end = sql.size();
      }
      std::string stmt = sql.substr(start, end - start);
      if (stmt.find_first_not_of(" \n\t") != std::string::npos) {
        d.exec(stmt);
      }
      start = end + 1;
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    d.exec("INSERT INTO schema_migrations(version, applied) VALUES(?, ?)",
           {std::int64_t{m.version}, static_cast<std::int64_t>(now.count())});
    tx.commit();
  }
}

}  // namespace

int schema_version() { return migrations[std::size(migrations) - 1].version; }

std::unique_ptr<db> open_db(const std::string& url, const std::string& data_dir) {
  std::unique_ptr<db> d;
  if (url.empty()) {
    d = std::make_unique<sqlite_db>((std::filesystem::path(data_dir) / "platform.db").string());
  } else if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    d = std::make_unique<pg_db>(url);
  } else {
    throw db_error("--db: expected postgresql://..., got " + url, false);
  }
  apply_migrations(*d);
  return d;
}

}  // namespace tapsense::platform

#pragma once
// The sensor's inventory: SQLite (WAL) in the state directory. Report batches
// are applied in transactions; every batch id is recorded in the same
// transaction, so a batch replayed after a crash (of the producer or of the
// uplink) is applied once. The uplink releases ring space only after commit.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <capnp/serialize.h>

#include "common/net/addr.h"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace tapsense::uplink {

class inventory {
 public:
  explicit inventory(const std::string& path);
  ~inventory();
  inventory(const inventory&) = delete;
  inventory& operator=(const inventory&) = delete;

  void begin();
  void commit();
  // Abandons the open transaction, if any (never throws).
  void rollback() noexcept;

  // Apply one Cap'n Proto batch frame (8-byte aligned words). Returns false
  // if the batch was already applied (replay) or is not a valid message.
  bool apply_flow_batch(kj::ArrayPtr<const capnp::word> words);
  bool apply_sighting_batch(kj::ArrayPtr<const capnp::word> words);
  bool apply_observation_batch(kj::ArrayPtr<const capnp::word> words);

  // Producers that delivered end_of_reports (persisted with the batches).
  void mark_ended(const std::string& producer);
  std::set<std::string> ended() const;

  // Counters for heartbeats.
  std::uint64_t batches_applied() const noexcept { return applied_; }
  std::uint64_t batches_replayed() const noexcept { return replayed_; }
  std::uint64_t batches_invalid() const noexcept { return invalid_; }

  SQLite::Database& db() noexcept { return *db_; }

  // Observations the filter returns true for (by MAC, 16-byte IP or empty)
  // are dropped before they are stored: excluded assets keep no attributes.
  void set_filter(std::function<bool(std::uint64_t, capnp::Data::Reader)> f) { filter_ = std::move(f); }
  std::uint64_t filtered() const noexcept { return filtered_; }
  // Deletes flows whose interval ended before `before_ns` (retention).
  std::uint64_t prune_flows(std::uint64_t before_ns);

 private:
  bool claim(const std::string& producer, std::uint64_t id);
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> claim_;
  std::unique_ptr<SQLite::Statement> flow_;
  std::unique_ptr<SQLite::Statement> sighting_;
  std::unique_ptr<SQLite::Statement> binding_;
  std::unique_ptr<SQLite::Statement> gateway_;
  std::unique_ptr<SQLite::Statement> ttl_;
  std::function<bool(std::uint64_t, capnp::Data::Reader)> filter_;
  std::uint64_t filtered_ = 0;
  std::unique_ptr<SQLite::Statement> observation_;
  std::uint64_t applied_ = 0;
  std::uint64_t replayed_ = 0;
  std::uint64_t invalid_ = 0;
  bool in_tx_ = false;
};

}  // namespace tapsense::uplink

#pragma once
// The sensor's inventory: a model in memory (model.h), updated from each
// report batch in time proportional to the batch, and SQLite (WAL) in the
// state directory as its durable form. A commit journals the raw batch
// frames it applied (one row per frame, no per-fact round trips) with their
// batch ids, so a batch replayed after a crash (of the producer or of the
// uplink) is applied once; the uplink releases ring space only after commit.
// A checkpoint writes the rows the model changed to the inventory tables and
// empties the journal; at start the tables are read and the journal replayed.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <capnp/serialize.h>

#include "common/net/addr.h"
#include "uplink/model.h"

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

  // Reads the last checkpoint and replays the journal (after set_filter).
  void load();
  // Reloads the model if an abandoned transaction left it ahead of the
  // tables (as begin() and checkpoint() would): after it, a checkpoint
  // changes no more than the rows' dirty marks, and another thread may
  // read the model while it runs.
  void refresh() {
    if (stale_) load();
  }

  void begin();
  void commit();
  // Abandons the open transaction, if any (never throws). The model, which
  // already holds the abandoned batches, is rebuilt from SQLite by the next
  // begin().
  void rollback() noexcept;

  // Writes the model's changes to the inventory tables and empties the
  // journal, in one transaction (outside begin/commit). Returns the rows
  // written.
  std::uint64_t checkpoint();
  // Bytes of batch frames journaled since the last checkpoint.
  std::uint64_t journal_bytes() const noexcept { return journal_bytes_; }

  const uplink::model& model() const noexcept { return model_; }
  std::uint64_t newest_packet_time() const noexcept { return model_.newest(); }

  // Apply one Cap'n Proto batch frame (8-byte aligned words). Returns false
  // if the batch was already applied (replay) or is not a valid message.
  bool apply_flow_batch(kj::ArrayPtr<const capnp::word> words);
  bool apply_sighting_batch(kj::ArrayPtr<const capnp::word> words);
  bool apply_observation_batch(kj::ArrayPtr<const capnp::word> words);

  // A new supervisor run (a token the supervisor makes once per run): its
  // rings and its producers' batch ids start over, so the previous run's
  // applied batch ids and ended producers are forgotten (the model and the
  // journal stay). Returns true when the run is new.
  bool begin_run(const std::string& token);

  // Producers that delivered end_of_reports (persisted with the batches).
  void mark_ended(const std::string& producer);
  std::set<std::string> ended() const;

  // Counters for heartbeats.
  std::uint64_t batches_applied() const noexcept { return applied_; }
  std::uint64_t batches_replayed() const noexcept { return replayed_; }
  std::uint64_t batches_invalid() const noexcept { return invalid_; }

  SQLite::Database& db() noexcept { return *db_; }
  // Closes the database (an open transaction is rolled back); the model
  // stays readable. Nothing else may be called after it.
  void close();

  // Observations the filter returns true for (by MAC, 16-byte IP or empty)
  // are dropped before they are stored: excluded assets keep no attributes.
  void set_filter(std::function<bool(std::uint64_t, capnp::Data::Reader)> f) { filter_ = std::move(f); }
  std::uint64_t filtered() const noexcept { return filtered_; }
  // Deletes flows whose interval ended before `before_ns` (retention).
  std::uint64_t prune_flows(std::uint64_t before_ns);

 private:
  bool claim(const std::string& producer, std::uint64_t id);
  void journal(int type, kj::ArrayPtr<const capnp::word> words);
  template <typename Batch>
  bool apply_frame(int type, kj::ArrayPtr<const capnp::word> words);
  // Applies one frame to the model; false if it is not a valid message.
  bool apply_to_model(int type, kj::ArrayPtr<const capnp::word> words);
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> claim_;
  std::unique_ptr<SQLite::Statement> journal_;
  uplink::model model_;
  std::function<bool(std::uint64_t, capnp::Data::Reader)> filter_;
  std::uint64_t filtered_ = 0;
  std::uint64_t journal_bytes_ = 0;
  bool stale_ = false;  // the model holds rolled-back batches
  std::uint64_t applied_ = 0;
  std::uint64_t replayed_ = 0;
  std::uint64_t invalid_ = 0;
  bool in_tx_ = false;
};

}  // namespace tapsense::uplink

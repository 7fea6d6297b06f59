#pragma once
// Accumulates observations and writes them to the uplink as Cap'n Proto
// batches. Exact repeats of a fact already sent are suppressed (bounded
// memory: the seen-set is cleared when it grows past its cap).
#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/ipc/fingerprinter_state.h"
#include "common/ipc/ring.h"
#include "common/ipc/spool.h"
#include "common/ipc/shm_table.h"
#include "common/net/addr.h"
#include "common/proto/names.h"
#include "common/schema/report.capnp.h"

#include <capnp/common.h>
#include <kj/array.h>

namespace tapsense::fp {
class rule_set;
struct derived_fact;
}  // namespace tapsense::fp

namespace tapsense::fingerprinter {

struct observation {
  std::uint64_t mac = 0;
  std::optional<net::ip_address> ip;
  std::uint64_t ts = 0;
  proto::source_name source;
  std::string_view rule;  // source "rule": the rule's id (points into the rule set, which outlives the emitter)
  proto::field_name field;
  std::string value;
  std::uint8_t confidence = 0;
  std::string network;
};

// An address a fact binds to a MAC (a DHCP lease, an address a device
// announces): sent typed beside the facts, never parsed back from a value.
struct binding {
  std::uint64_t mac = 0;
  net::ip_address ip{};
  schema::BindingSource source = schema::BindingSource::IP_SOURCE;
  std::uint64_t ts = 0;
  std::string network;
};

class emitter {
 public:
  emitter(ipc::ring& out, std::string producer, std::function<bool()> keep_waiting);
  ~emitter();
  // Inference rules (common/fp/rules.h): every raw fact sent (first time or
  // refresh) also sends what the rules derive from it, about the same device,
  // with source "rule:<id>" and the rule's confidence scaled by the raw
  // fact's (a weak p0f match does not become strong evidence; among the
  // rules one fact fires, the more certain still wins). Null: no inference.
  void set_rules(const fp::rule_set* rules);
  // Keeps what was delivered in shared memory (fingerprinter/state.h) instead
  // of this process: repeats are then judged the same across a restart.
  // `cleared` counts the times the table filled up and started over.
  void set_seen_table(ipc::shm_table<std::uint64_t, std::uint64_t>* t, std::uint64_t* cleared) {
    shm_seen_ = t;
    shm_cleared_ = cleared;
  }

  void about_mac(const net::mac_address& mac, std::uint64_t ts, proto::source_name source, proto::field_name field,
                 std::string_view value, std::uint8_t confidence);
  void about_ip(const net::ip_address& ip, std::uint64_t ts, proto::source_name source, proto::field_name field,
                std::string_view value, std::uint8_t confidence);
  // A fact about a device known by its MAC, its IP, or both (a local sender:
  // the MAC is its own). `network` is the packet's named network.
  void about(std::uint64_t mac, const std::optional<net::ip_address>& ip, std::uint64_t ts, proto::source_name source,
             proto::field_name field, std::string_view value, std::uint8_t confidence, std::string_view network = {});
  // "This address is this MAC's" (`source`: schema::BindingSource), as the
  // fact beside it says: repeats are suppressed like facts', and an
  // unspecified or multicast address, or a group MAC, binds nothing.
  void bind(std::uint64_t mac, const net::ip_address& ip, schema::BindingSource source, std::uint64_t ts,
            std::string_view network);
  // A binding the analyzer states itself (a DHCP lease, an mDNS responder's
  // own address), told twice: as its evidence, the fact `source`/`field` =
  // the address about the MAC, and typed (bind).
  void about_binding(std::uint64_t mac, const net::ip_address& ip, schema::BindingSource how, std::uint64_t ts,
                     proto::source_name source, proto::field_name field, std::uint8_t confidence,
                     std::string_view network);

  // The report spool in the worker's state segment (common/ipc/
  // fingerprinter_state.h): with it, a full report ring never makes the
  // worker wait. Batches that find no room in the ring wait in the spool
  // (shared memory: they survive a crash of the worker, and count as
  // delivered); when the spool has no room either, the observations stay
  // pending (and their snapshots unreleased) until it drains.
  void set_spool(state_header* st, std::uint8_t* spool, std::uint64_t capacity) noexcept {
    st_ = st;
    spool_ = ipc::spool(spool, capacity, &st->spool_pos);
  }
  // Moves spooled batches to the ring while it has room. Never waits.
  void poll() noexcept;
  // Bytes of batches waiting in the spool.
  std::uint64_t spooled_bytes() const noexcept;

  std::size_t pending() const noexcept { return pending_.size() + pending_bindings_.size(); }
  // Writes pending observations as batches (to the ring or the spool);
  // false if stopped while waiting. With a spool it never waits: when the
  // spool is full the observations stay pending (pending() != 0).
  bool flush();
  // Set when one observation alone is bigger than the report ring can ever
  // carry: the worker must stop with this message.
  const std::string& fatal() const noexcept { return fatal_; }
  // Writes end_of_reports (after a flush).
  bool end_of_reports();

  std::uint64_t emitted() const noexcept { return emitted_; }
  std::uint64_t suppressed() const noexcept { return suppressed_; }
  std::uint64_t batches() const noexcept { return batches_; }
  std::uint64_t derived() const noexcept { return derived_; }

 private:
  // A fact, as views: it is hashed and checked against the repeats first,
  // and copied into an observation only when it is sent (`rule`: the id of
  // the rule that derived it, for source "rule").
  void add(std::uint64_t mac, const std::optional<net::ip_address>& ip, std::uint64_t ts, proto::source_name source,
           std::string_view rule, proto::field_name field, std::string_view value, std::uint8_t confidence,
           std::string_view network, bool raw);
  // The repeat check: true when the fact (by its hash) was sent within the
  // refresh interval before `ts`.
  bool repeat(std::uint64_t h, std::uint64_t ts);
  const fp::rule_set* rules_ = nullptr;
  std::vector<fp::derived_fact> scratch_;
  ipc::ring_writer out_;
  std::string producer_;
  std::function<bool()> keep_waiting_;
  std::vector<observation> pending_;
  std::vector<binding> pending_bindings_;  // go out with the next batch
  std::string fatal_;
  // Serialises pending_[lo, hi) and pending_bindings_[blo, bhi) as one
  // batch into built_, or in halves when that is bigger than a frame of the
  // ring can be.
  bool build(std::size_t lo, std::size_t hi, std::size_t blo, std::size_t bhi);
  // Places built_: all of it, or (spool full) none of it.
  enum class placed { done, deferred, stopped };
  placed place();
  struct built_batch {
    kj::Array<capnp::word> words;
    std::size_t count;     // observations in it
    std::size_t bindings;  // bindings in it
  };
  std::vector<built_batch> built_;
  state_header* st_ = nullptr;
  ipc::spool spool_;
  std::uint64_t spool_need_ = 0;  // bytes the last deferred flush needed (0: none)
  // Facts already sent, with the packet time they were last sent: repeats
  // are suppressed, but a fact still true is sent again every refresh
  // interval so its last_seen means something.
  std::unordered_map<std::uint64_t, std::uint64_t> seen_;
  // With a shared-memory table: what was delivered lives there, and seen_
  // holds only the facts of the batch not yet delivered.
  ipc::shm_table<std::uint64_t, std::uint64_t>* shm_seen_ = nullptr;
  std::uint64_t* shm_cleared_ = nullptr;
  std::uint64_t batch_base_;
  std::uint64_t batches_ = 0;
  std::uint64_t emitted_ = 0;
  std::uint64_t suppressed_ = 0;
  std::uint64_t derived_ = 0;
};

}  // namespace tapsense::fingerprinter

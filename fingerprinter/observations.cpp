#include "fingerprinter/observations.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <unistd.h>

#include <cstring>

#include "common/fp/rules.h"
#include "common/schema/report.capnp.h"
#include "common/util/time.h"

namespace tapsense::fingerprinter {

namespace {
constexpr std::size_t seen_cap = 1u << 20;

std::uint64_t fnv(std::uint64_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    h = (h ^ b[i]) * 0x100000001b3ULL;
  }
  return h;
}
}  // namespace

emitter::emitter(ipc::ring& out, std::string producer, std::function<bool()> keep_waiting)
    : out_(out),
      producer_(std::move(producer)),
      keep_waiting_(std::move(keep_waiting)),
      // Batch ids must differ between incarnations of this worker (a restart
      // must not reuse an id the uplink already applied): pid and start time.
      batch_base_((static_cast<std::uint64_t>(::getpid()) << 40) |
                  (((util::now_ns() / 1'000'000'000ULL) & 0xff) << 32)) {}

emitter::~emitter() = default;

void emitter::set_rules(const fp::rule_set* rules) { rules_ = rules; }

bool emitter::repeat(std::uint64_t h, std::uint64_t ts) {
  constexpr std::uint64_t refresh_ns = 1800ULL * 1'000'000'000ULL;
  if (shm_seen_ != nullptr) {
    // Delivered before (by this process or the one before a crash)?
    if (const auto* last = shm_seen_->find(h); last != nullptr && ts < *last + refresh_ns) {
      ++suppressed_;
      return true;
    }
  }
  auto [it, fresh] = seen_.try_emplace(h, ts);
  if (!fresh) {
    if (ts < it->second + refresh_ns) {
      ++suppressed_;
      return true;
    }
    it->second = ts;
  }
  if (shm_seen_ == nullptr && seen_.size() > seen_cap) {
    seen_.clear();
  }
  return false;
}

void emitter::add(std::uint64_t mac, const std::optional<net::ip_address>& ip, std::uint64_t ts,
                  proto::source_name source, std::string_view rule, proto::field_name field, std::string_view value,
                  std::uint8_t confidence, std::string_view network, bool raw) {
  // The repeat check works on the views: nothing is copied for a repeat.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv(h, &mac, sizeof mac);
  if (ip) h = fnv(h, ip->b.data(), 16);
  h = fnv(h, network.data(), network.size());
  const std::uint16_t ids[2] = {source.id(), field.id()};
  h = fnv(h, ids, sizeof ids);
  h = fnv(h, rule.data(), rule.size());
  h = fnv(h, "\0", 1);
  h = fnv(h, value.data(), value.size());
  if (repeat(h, ts)) return;
  pending_.push_back({mac, ip, ts, source, rule, field, std::string(value), confidence, std::string(network)});
  if (!raw || rules_ == nullptr) return;
  // Derived facts go through the same suppression (two raw facts often
  // imply the same OS family); they are never fed back to the rules.
  scratch_.clear();
  rules_->apply(source, field, value, scratch_);
  if (scratch_.empty()) return;
  // (The views passed in are the caller's, not pending_'s: they stay valid
  // while pending_ grows.)
  for (const auto& d : scratch_) {
    const auto conf = static_cast<std::uint8_t>(std::max(1u, (unsigned{d.confidence} * confidence + 50) / 100));
    ++derived_;
    add(mac, ip, ts, "rule", d.rule_id, d.field, d.value, conf, network, false);
  }
}

void emitter::bind(std::uint64_t mac, const net::ip_address& ip, schema::BindingSource source, std::uint64_t ts,
                   std::string_view network) {
  if (mac == 0 || net::mac_address::from_u64(mac).is_multicast() || ip.is_unspecified() || ip.is_multicast()) return;
  std::uint64_t h = 0x84222325cbf29ce4ULL;  // apart from the facts' hashes
  h = fnv(h, &mac, sizeof mac);
  h = fnv(h, ip.b.data(), 16);
  const auto how = static_cast<std::uint16_t>(source);
  h = fnv(h, &how, sizeof how);
  h = fnv(h, network.data(), network.size());
  if (repeat(h, ts)) return;
  pending_bindings_.push_back({mac, ip, source, ts, std::string(network)});
}

void emitter::about_binding(std::uint64_t mac, const net::ip_address& ip, schema::BindingSource how,
                            std::uint64_t ts, proto::source_name source, proto::field_name field,
                            std::uint8_t confidence, std::string_view network) {
  about(mac, std::nullopt, ts, source, field, ip.to_string(), confidence, network);
  bind(mac, ip, how, ts, network);
}

void emitter::about_mac(const net::mac_address& mac, std::uint64_t ts, proto::source_name source,
                        proto::field_name field, std::string_view value, std::uint8_t confidence) {
  if (value.empty() || mac.is_zero() || mac.is_multicast()) return;
  add(mac.to_u64(), std::nullopt, ts, source, {}, field, value, confidence, {}, true);
}

void emitter::about_ip(const net::ip_address& ip, std::uint64_t ts, proto::source_name source,
                       proto::field_name field, std::string_view value, std::uint8_t confidence) {
  if (value.empty() || ip.is_unspecified() || ip.is_multicast()) return;
  add(0, ip, ts, source, {}, field, value, confidence, {}, true);
}

void emitter::about(std::uint64_t mac, const std::optional<net::ip_address>& ip, std::uint64_t ts,
                    proto::source_name source, proto::field_name field, std::string_view value,
                    std::uint8_t confidence, std::string_view network) {
  if (value.empty()) return;
  if (mac != 0 && (net::mac_address::from_u64(mac).is_multicast())) mac = 0;
  std::optional<net::ip_address> a = ip;
  if (a && (a->is_unspecified() || a->is_multicast())) a.reset();
  if (mac == 0 && !a) return;
  add(mac, a, ts, source, {}, field, value, confidence, network, true);
}

std::uint64_t emitter::spooled_bytes() const noexcept { return st_ == nullptr ? 0 : spool_.waiting(); }

void emitter::poll() noexcept {
  if (st_ != nullptr) spool_.drain(out_);
}

bool emitter::flush() {
  if (pending_.empty() && pending_bindings_.empty()) {
    return true;
  }
  if (st_ != nullptr && spool_need_ != 0) {
    // Deferred for want of spool room: not built again until the spool has
    // drained enough (no rebuild per loop turn).
    poll();
    if (spool_.waiting() != 0 && !spool_.fits(spool_need_)) return true;
  }
  built_.clear();
  if (!build(0, pending_.size(), 0, pending_bindings_.size())) {
    built_.clear();
    return false;
  }
  const auto r = place();
  built_.clear();
  if (r == placed::stopped) return false;
  if (!pending_.empty() || !pending_bindings_.empty()) return true;  // the rest waits for spool room: its snapshots are not released
  if (shm_seen_ != nullptr) {
    // All delivered (in the ring or the spool, both shared memory): only now
    // do these facts count as sent. A crash before this point replays their
    // snapshots, and they are sent again.
    for (const auto& [h, ts] : seen_) {
      bool inserted = false;
      auto* v = shm_seen_->find_or_insert(h, inserted);
      if (v == nullptr) {
        shm_seen_->clear();
        if (shm_cleared_ != nullptr) ++*shm_cleared_;
        v = shm_seen_->find_or_insert(h, inserted);
      }
      if (v != nullptr) *v = ts;
    }
    seen_.clear();
  }
  return true;
}

bool emitter::build(std::size_t lo, std::size_t hi, std::size_t blo, std::size_t bhi) {
  capnp::MallocMessageBuilder mb;
  auto batch = mb.initRoot<schema::ObservationBatch>();
  batch.setSchemaVersion(schema::SCHEMA_VERSION);
  batch.setVocabulary(proto::vocabulary_hash);
  batch.setProducer(producer_);
  batch.setBatchId(batch_base_ | (batches_ + built_.size()));
  auto list = batch.initObservations(static_cast<unsigned>(hi - lo));
  for (std::size_t i = lo; i < hi; ++i) {
    const auto& o = pending_[i];
    auto b = list[static_cast<unsigned>(i - lo)];
    b.setMac(o.mac);
    if (o.ip) {
      b.setIp(kj::arrayPtr(reinterpret_cast<const kj::byte*>(o.ip->b.data()), 16));
    }
    b.setTs(o.ts);
    b.setSourceId(o.source.id());
    b.setFieldId(o.field.id());
    if (!o.rule.empty()) b.setRule(capnp::Text::Reader(o.rule.data(), o.rule.size()));
    b.setValue(o.value);
    b.setConfidence(o.confidence);
    b.setNetwork(o.network);
  }
  if (bhi > blo) {
    auto bl = batch.initBindings(static_cast<unsigned>(bhi - blo));
    for (std::size_t i = blo; i < bhi; ++i) {
      const auto& x = pending_bindings_[i];
      auto b = bl[static_cast<unsigned>(i - blo)];
      b.setIp(kj::arrayPtr(reinterpret_cast<const kj::byte*>(x.ip.b.data()), 16));
      b.setMac(x.mac);
      b.setSource(x.source);
      b.setFirstSeen(x.ts);
      b.setLastSeen(x.ts);
      b.setPackets(1);
      b.setNetwork(x.network);
    }
  }
  auto words = capnp::messageToFlatArray(mb);
  const auto bytes = words.asBytes();
  if (bytes.size() > out_.max_payload()) {
    // A small report ring: the same observations in smaller batches.
    if ((hi - lo) + (bhi - blo) == 1) {
      fatal_ = "an observation of " + std::to_string(bytes.size()) + " bytes can never fit in the report ring (" +
               std::to_string(out_.max_payload()) + " bytes per frame at most); raise fingerprinter.report_ring_mb";
      return false;
    }
    const std::size_t mid = lo + (hi - lo) / 2;
    const std::size_t bmid = blo + (bhi - blo) / 2;
    return build(lo, mid, blo, bmid) && build(mid, hi, bmid, bhi);
  }
  built_.push_back({kj::mv(words), hi - lo, bhi - blo});
  return true;
}

emitter::placed emitter::place() {
  std::size_t done = 0;       // batches placed
  std::size_t facts = 0;      // observations they carry
  std::size_t binds = 0;      // bindings they carry
  if (st_ == nullptr) {
    // No spool: wait for the ring (out.waits counts it).
    for (; done < built_.size(); ++done) {
      const auto bytes = built_[done].words.asBytes();
      auto* p = out_.reserve(static_cast<std::uint32_t>(bytes.size()), ipc::frame_type::observation_batch,
                             keep_waiting_);
      if (p == nullptr) break;
      std::memcpy(p, bytes.begin(), bytes.size());
      out_.publish();
      facts += built_[done].count;
      binds += built_[done].bindings;
    }
  } else {
    poll();  // what waited goes first
    // In order: into the ring while nothing waits and it has room, then into
    // the spool while it has room; what fits neither stays pending.
    bool published = false;
    for (; done < built_.size() && spool_.waiting() == 0; ++done) {
      const auto bytes = built_[done].words.asBytes();
      auto* p = out_.try_reserve(static_cast<std::uint32_t>(bytes.size()), ipc::frame_type::observation_batch);
      if (p == nullptr) break;
      std::memcpy(p, bytes.begin(), bytes.size());
      published = true;
      facts += built_[done].count;
      binds += built_[done].bindings;
    }
    if (published) out_.publish();
    const std::uint64_t spooled_from = done;
    auto ends = spool_.begin();
    for (; done < built_.size(); ++done) {
      if (!spool_.put(ends, ipc::frame_type::observation_batch, built_[done].words.asBytes())) break;
      facts += built_[done].count;
      binds += built_[done].bindings;
    }
    if (done != spooled_from) {
      // One store places them.
      st_->spool_high_water = std::max<std::uint64_t>(st_->spool_high_water, spool_.commit(ends));
      st_->spool_batches += done - spooled_from;
    }
    spool_need_ = 0;
    if (done < built_.size()) {
      spool_need_ = ipc::frame_span(static_cast<std::uint32_t>(built_[done].words.asBytes().size()));
      ++st_->spool_deferred;
    }
  }
  batches_ += done;
  emitted_ += facts;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(facts));
  pending_bindings_.erase(pending_bindings_.begin(), pending_bindings_.begin() + static_cast<std::ptrdiff_t>(binds));
  if (done < built_.size() && st_ == nullptr) return placed::stopped;
  return done < built_.size() ? placed::deferred : placed::done;
}

bool emitter::end_of_reports() {
  if (!flush()) return false;
  // The end goes last, once every observation left the spool; waiting here
  // holds back no packet (the input has ended).
  ipc::backoff bo;
  while (pending() != 0 || spooled_bytes() != 0) {
    poll();
    if (!flush()) return false;
    if (pending() == 0 && spooled_bytes() == 0) break;
    if (!keep_waiting_()) return false;
    bo.pause();
  }
  const ipc::end_of_reports_frame e{batches_};
  auto* p = out_.reserve(sizeof e, ipc::frame_type::end_of_reports, keep_waiting_);
  if (p == nullptr) return false;
  std::memcpy(p, &e, sizeof e);
  out_.publish();
  return true;
}

}  // namespace tapsense::fingerprinter

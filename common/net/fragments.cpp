#include "common/net/fragments.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tapsense::net {

namespace {

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::uint64_t words(const ip_address& a) noexcept {
  std::uint64_t x;
  std::uint64_t y;
  std::memcpy(&x, a.b.data(), 8);
  std::memcpy(&y, a.b.data() + 8, 8);
  return mix64(x ^ mix64(y));
}

bool older_than(std::uint64_t then, std::uint64_t now, std::uint64_t timeout) noexcept {
  // Packet time may step back a little (several ports): never expire on that.
  return now > then && now - then > timeout;
}

}  // namespace

// ---------------------------------------------------------------------------
// fragment_tracker

fragment_tracker::fragment_tracker(const fragment_tracker_options& opt) : opt_(opt) {
  const std::size_t n = std::bit_ceil(std::max<std::size_t>(opt.entries, ways));
  table_.assign(n, entry{});
  set_mask_ = n / ways - 1;
}

fragment_tracker::entry* fragment_tracker::set_of(const fragment_info& f) noexcept {
  const std::uint64_t h =
      mix64(words(f.src) ^ (words(f.dst) * 3) ^ (std::uint64_t{f.id} << 16) ^ (std::uint64_t{f.proto} << 8) ^ f.family);
  return table_.data() + (h & set_mask_) * ways;
}

bool fragment_tracker::expired(const entry& e, std::uint64_t now) const noexcept {
  return older_than(e.ts_ns, now, opt_.timeout_ns);
}

void fragment_tracker::on_fragment(packet_record& rec, const fragment_info& f) noexcept {
  entry* set = set_of(f);
  auto same = [&](const entry& e) {
    return e.family == f.family && e.id == f.id && e.proto == f.proto && e.src == f.src && e.dst == f.dst;
  };
  if (f.kind == fragment_info::first) {
    // Worth remembering when the later fragments would miss something: the
    // ports, or (fragmented tunnel packet) the whole inner identity.
    if ((rec.flags & pktflag::has_ports) == 0 && f.innermost) {
      return;
    }
    // The same datagram key (an id that came round again), else a free or
    // expired way, else the oldest.
    entry* victim = nullptr;
    for (std::size_t w = 0; w < ways && victim == nullptr; ++w) {
      if (set[w].family != 0 && same(set[w])) {
        victim = &set[w];
      }
    }
    for (std::size_t w = 0; w < ways && victim == nullptr; ++w) {
      if (set[w].family == 0 || expired(set[w], rec.ts_ns)) {
        victim = &set[w];
      }
    }
    if (victim == nullptr) {
      victim = set;
      for (std::size_t w = 1; w < ways; ++w) {
        if (set[w].ts_ns < victim->ts_ns) {
          victim = &set[w];
        }
      }
      ++c_.evicted;
    }
    entry& e = *victim;
    e.src = f.src;
    e.dst = f.dst;
    e.id = f.id;
    e.proto = f.proto;
    e.family = f.family;
    e.ts_ns = rec.ts_ns;
    e.l3 = rec.l3;
    e.ip_proto = rec.ip_proto;
    e.flow_src = rec.src_ip;
    e.flow_dst = rec.dst_ip;
    e.tunnel_src = rec.tunnel_src;
    e.tunnel_dst = rec.tunnel_dst;
    e.src_mac = rec.src_mac;
    e.dst_mac = rec.dst_mac;
    e.tunnel_id = rec.tunnel_id;
    e.src_port = rec.src_port;
    e.dst_port = rec.dst_port;
    e.vlan[0] = rec.vlan[0];
    e.vlan[1] = rec.vlan[1];
    e.ethertype = rec.ethertype;
    e.vlan_count = rec.vlan_count;
    e.ttl = rec.ttl;
    e.tunnel = rec.tunnel;
    e.tunnel_depth = rec.tunnel_depth;
    e.has_ports = (rec.flags & pktflag::has_ports) != 0 ? 1 : 0;
    ++c_.tracked;
    return;
  }
  for (std::size_t w = 0; w < ways; ++w) {
    const entry& e = set[w];
    if (e.family == 0 || !same(e) || expired(e, rec.ts_ns)) {
      continue;
    }
    rec.l3 = e.l3;
    rec.ip_proto = e.ip_proto;
    rec.src_ip = e.flow_src;
    rec.dst_ip = e.flow_dst;
    rec.tunnel_src = e.tunnel_src;
    rec.tunnel_dst = e.tunnel_dst;
    rec.src_mac = e.src_mac;
    rec.dst_mac = e.dst_mac;
    rec.tunnel_id = e.tunnel_id;
    rec.src_port = e.src_port;
    rec.dst_port = e.dst_port;
    rec.vlan[0] = e.vlan[0];
    rec.vlan[1] = e.vlan[1];
    rec.ethertype = e.ethertype;
    rec.vlan_count = e.vlan_count;
    rec.ttl = e.ttl;
    rec.tunnel = e.tunnel;
    rec.tunnel_depth = e.tunnel_depth;
    if (e.has_ports != 0) {
      rec.flags |= pktflag::has_ports;
    }
    rec.flags |= pktflag::fragment | pktflag::later_fragment;
    rec.flow_hash = symmetric_flow_hash(rec);
    ++c_.attributed;
    return;
  }
  ++c_.unattributed;
}

// ---------------------------------------------------------------------------
// reassembler

reassembler::reassembler(const reassembly_options& opt) : opt_(opt) {
  opt_.max_datagrams = std::max<std::size_t>(opt_.max_datagrams, 1);
  opt_.max_fragments = std::clamp<std::size_t>(opt_.max_fragments, 1, 0xffff);
  opt_.max_datagram_bytes = std::clamp<std::size_t>(opt_.max_datagram_bytes, 8, 0x20000);
  chunks_per_datagram_ = (opt_.max_datagram_bytes + chunk_bytes - 1) / chunk_bytes;
  chunks_total_ = std::max<std::size_t>((opt_.max_total_bytes + chunk_bytes - 1) / chunk_bytes, 1);
  slots_.assign(opt_.max_datagrams, slot{});
  ranges_.assign(opt_.max_datagrams * opt_.max_fragments, range{0, 0});
  chunk_map_.assign(opt_.max_datagrams * chunks_per_datagram_, no_chunk);
  pool_.assign(chunks_total_ * chunk_bytes, 0);
  free_chunks_.reserve(chunks_total_);
  for (std::size_t i = chunks_total_; i-- > 0;) {
    free_chunks_.push_back(static_cast<std::uint32_t>(i));
  }
  out_.assign(opt_.max_datagram_bytes, 0);
}

std::size_t reassembler::datagrams_held() const noexcept {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.used; }));
}

void reassembler::release(std::size_t s) noexcept {
  std::uint32_t* map = chunks(s);
  for (std::size_t i = 0; i < chunks_per_datagram_; ++i) {
    if (map[i] != no_chunk) {
      free_chunks_.push_back(map[i]);  // never past the reserved capacity
      map[i] = no_chunk;
    }
  }
  slots_[s] = slot{};
}

void reassembler::expire(std::uint64_t now_ns) noexcept {
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].used && older_than(slots_[s].first_ts, now_ns, opt_.timeout_ns)) {
      release(s);
      ++c_.timed_out;
    }
  }
}

std::size_t reassembler::oldest_except(std::size_t keep) const noexcept {
  std::size_t best = slots_.size();
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (s != keep && slots_[s].used && (best == slots_.size() || slots_[s].first_ts < slots_[best].first_ts)) {
      best = s;
    }
  }
  return best;
}

std::size_t reassembler::find_or_make(std::uint8_t family, std::uint8_t proto, std::uint32_t id,
                                      const ip_address& src, const ip_address& dst,
                                      std::uint64_t ts) noexcept {
  std::size_t free_slot = slots_.size();
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    const slot& x = slots_[s];
    if (!x.used) {
      free_slot = std::min(free_slot, s);
    } else if (x.family == family && x.proto == proto && x.id == id && x.src == src && x.dst == dst) {
      return s;
    }
  }
  if (free_slot == slots_.size()) {
    free_slot = oldest_except(slots_.size());
    release(free_slot);
    ++c_.evicted;
  }
  slot& x = slots_[free_slot];
  x.used = true;
  x.family = family;
  x.proto = proto;
  x.id = id;
  x.src = src;
  x.dst = dst;
  x.first_ts = ts;
  return free_slot;
}

bool reassembler::write(std::size_t s, std::uint32_t begin, bytes data) noexcept {
  std::uint32_t* map = chunks(s);
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t at = begin + done;
    const std::size_t c = at / chunk_bytes;
    const std::size_t in = at % chunk_bytes;
    const std::size_t n = std::min(chunk_bytes - in, data.size() - done);
    if (map[c] == no_chunk) {
      while (free_chunks_.empty()) {
        // Out of buffer: the oldest other datagram makes room.
        const std::size_t victim = oldest_except(s);
        if (victim == slots_.size()) {
          return false;
        }
        release(victim);
        ++c_.evicted;
      }
      map[c] = free_chunks_.back();
      free_chunks_.pop_back();
    }
    std::memcpy(pool_.data() + std::size_t{map[c]} * chunk_bytes + in, data.data() + done, n);
    done += n;
  }
  return true;
}

bool reassembler::equal(std::size_t s, std::uint32_t begin, bytes data) const noexcept {
  const std::uint32_t* map = chunks(s);
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t at = begin + done;
    const std::size_t c = at / chunk_bytes;
    const std::size_t in = at % chunk_bytes;
    const std::size_t n = std::min(chunk_bytes - in, data.size() - done);
    if (map[c] == no_chunk ||
        std::memcmp(pool_.data() + std::size_t{map[c]} * chunk_bytes + in, data.data() + done, n) != 0) {
      return false;
    }
    done += n;
  }
  return true;
}

void reassembler::gather(std::size_t s, std::uint32_t len) noexcept {
  const std::uint32_t* map = chunks(s);
  for (std::size_t at = 0; at < len; at += chunk_bytes) {
    const std::size_t n = std::min<std::size_t>(chunk_bytes, len - at);
    std::memcpy(out_.data() + at, pool_.data() + std::size_t{map[at / chunk_bytes]} * chunk_bytes, n);
  }
}

reassembled_datagram reassembler::add(bytes pkt, std::uint64_t ts_ns) noexcept {
  reassembled_datagram r;
  expire(ts_ns);
  if (pkt.empty()) {
    ++c_.malformed;
    return r;
  }
  // The fragment: [offset, offset + data.size()) of the datagram's payload.
  std::uint32_t offset = 0;
  bool more = false;
  bytes data;
  const std::uint8_t version = pkt[0] >> 4;
  if (version == 4) {
    if (pkt.size() < 20) {
      ++c_.malformed;
      return r;
    }
    const std::size_t ihl = static_cast<std::size_t>(pkt[0] & 0x0f) * 4;
    const std::size_t total = load_be16(pkt.data() + 2);
    if (ihl < 20 || total < ihl) {
      ++c_.malformed;
      return r;
    }
    r.family = 4;
    r.proto = pkt[9];
    r.id = load_be16(pkt.data() + 4);
    r.src = ip_address::from_v4(pkt.data() + 12);
    r.dst = ip_address::from_v4(pkt.data() + 16);
    const std::uint16_t frag = load_be16(pkt.data() + 6);
    offset = static_cast<std::uint32_t>(frag & 0x1fff) * 8;
    more = (frag & 0x2000) != 0;
    if (total > pkt.size()) {
      ++c_.truncated;
      return r;
    }
    data = pkt.subspan(ihl, total - ihl);
    if (offset == 0 && !more) {
      r.status = reassembly_status::not_fragment;
      r.payload = data;
      return r;
    }
  } else if (version == 6) {
    if (pkt.size() < 40) {
      ++c_.malformed;
      return r;
    }
    const std::size_t end = 40 + std::size_t{load_be16(pkt.data() + 4)};
    r.family = 6;
    r.src = ip_address::from_v6(pkt.data() + 8);
    r.dst = ip_address::from_v6(pkt.data() + 24);
    if (end > pkt.size()) {
      ++c_.truncated;
      return r;
    }
    // Walk the unfragmentable part to the fragment header.
    std::uint8_t nh = pkt[6];
    std::size_t pos = 40;
    bool fragmented = false;
    for (int depth = 0; depth < 8; ++depth) {
      if (nh != 0 && nh != 43 && nh != 60 && nh != 44) {
        break;
      }
      if (!fits(end, pos, 8)) {
        ++c_.malformed;
        return r;
      }
      if (nh == 44) {
        const std::uint16_t fo = load_be16(pkt.data() + pos + 2);
        offset = fo & 0xfff8u;
        more = (fo & 1) != 0;
        r.id = load_be32(pkt.data() + pos + 4);
        nh = pkt[pos];
        pos += 8;
        fragmented = true;
        break;
      }
      const std::size_t elen = (std::size_t{pkt[pos + 1]} + 1) * 8;
      nh = pkt[pos];
      pos += elen;
    }
    if (pos > end) {
      ++c_.malformed;
      return r;
    }
    r.proto = nh;
    data = pkt.subspan(pos, end - pos);
    if (!fragmented || (offset == 0 && !more)) {
      // Not a fragment, or an atomic fragment (RFC 6946): already whole.
      r.status = reassembly_status::not_fragment;
      r.payload = data;
      return r;
    }
  } else {
    ++c_.malformed;
    return r;
  }
  ++c_.fragments;
  const std::uint64_t begin = offset;
  const std::uint64_t end = begin + data.size();
  if ((more && data.size() % 8 != 0) || data.empty()) {
    // Only the last fragment may end off an 8-byte boundary; empty ones say nothing.
    ++c_.malformed;
    r.status = reassembly_status::malformed;
    return r;
  }
  const std::size_t s = find_or_make(r.family, r.proto, r.id, r.src, r.dst, ts_ns);
  slot& x = slots_[s];
  auto drop = [&](std::uint64_t& counter) {
    ++counter;
    release(s);
    r.status = reassembly_status::dropped;
    return r;
  };
  if (end > opt_.max_datagram_bytes) {
    return drop(c_.too_big);
  }
  if (x.have_last && (end > x.total || (!more && end != x.total))) {
    return drop(c_.inconsistent);
  }
  range* rs = ranges(s);
  std::size_t at = 0;  // insertion point: ranges are sorted by begin
  for (std::size_t i = 0; i < x.nfrags; ++i) {
    if (rs[i].begin == begin && rs[i].end == end) {
      if (!equal(s, offset, data)) {
        return drop(c_.inconsistent);
      }
      ++c_.duplicates;
      r.status = reassembly_status::held;
      return r;
    }
    if (rs[i].begin < end && begin < rs[i].end) {
      return drop(c_.overlaps);
    }
    if (rs[i].begin < begin) {
      at = i + 1;
    }
  }
  if (!more) {
    if (x.nfrags > 0 && rs[x.nfrags - 1].end > end) {
      return drop(c_.inconsistent);  // data past the end the last fragment tells
    }
    x.have_last = true;
    x.total = static_cast<std::uint32_t>(end);
  }
  if (x.nfrags >= opt_.max_fragments) {
    return drop(c_.too_many_fragments);
  }
  if (!write(s, offset, data)) {
    return drop(c_.evicted);
  }
  std::memmove(rs + at + 1, rs + at, (x.nfrags - at) * sizeof(range));
  rs[at] = range{offset, static_cast<std::uint32_t>(end)};
  ++x.nfrags;
  x.have += static_cast<std::uint32_t>(data.size());
  if (!x.have_last || x.have != x.total) {
    r.status = reassembly_status::held;
    return r;
  }
  // No overlaps and every byte up to the end: the datagram is whole.
  const std::uint32_t len = x.total;
  gather(s, len);
  release(s);
  ++c_.completed;
  r.status = reassembly_status::complete;
  r.payload = bytes(out_.data(), len);
  if (r.family == 6) {
    // Destination options (or routing) may follow the fragment header.
    for (int depth = 0; depth < 8 && (r.proto == 60 || r.proto == 43 || r.proto == 0); ++depth) {
      if (r.payload.size() < 8) {
        break;
      }
      const std::size_t elen = (std::size_t{r.payload[1]} + 1) * 8;
      if (elen > r.payload.size()) {
        break;
      }
      r.proto = r.payload[0];
      r.payload = r.payload.subspan(elen);
    }
  }
  return r;
}

}  // namespace tapsense::net

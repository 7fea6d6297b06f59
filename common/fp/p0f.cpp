#include "common/fp/p0f.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/net/bytes.h"

// Behaviour notes refer to p0f 3.09b (process.c, fp_tcp.c, fp_mtu.c, readfp.c);
// this is an independent implementation of the same rules, not a port.

namespace tapsense::fp {

namespace {

using net::load_be16;
using net::load_be32;

// TCP flags and option kinds.
constexpr std::uint8_t tcp_fin = 0x01;
constexpr std::uint8_t tcp_syn = 0x02;
constexpr std::uint8_t tcp_rst = 0x04;
constexpr std::uint8_t tcp_push = 0x08;
constexpr std::uint8_t tcp_ack = 0x10;
constexpr std::uint8_t tcp_urg = 0x20;
constexpr std::uint8_t tcp_ece = 0x40;
constexpr std::uint8_t tcp_cwr = 0x80;

constexpr std::uint8_t opt_eol = 0;
constexpr std::uint8_t opt_nop = 1;
constexpr std::uint8_t opt_mss = 2;
constexpr std::uint8_t opt_ws = 3;
constexpr std::uint8_t opt_sackok = 4;
constexpr std::uint8_t opt_sack = 5;
constexpr std::uint8_t opt_ts = 8;

constexpr std::size_t ipv4_hdr_len = 20;
constexpr std::size_t ipv6_hdr_len = 40;
constexpr std::size_t tcp_hdr_len = 20;
constexpr std::size_t min_tcp4 = ipv4_hdr_len + tcp_hdr_len;  // 40
constexpr std::size_t min_tcp6 = ipv6_hdr_len + tcp_hdr_len;  // 60
constexpr std::size_t p0f_snaplen = 65535;

// p0f-sendsyn's probe MSS; p0f prints it as '*' in SYN+ACK raw signatures.
constexpr std::uint16_t sendsyn_mss = 1331;

std::uint64_t layout_hash(const std::uint8_t* layout, std::size_t n) noexcept {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  h = (h ^ n) * 1099511628211ull;
  for (std::size_t i = 0; i < n; ++i) {
    h = (h ^ layout[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------

std::optional<tcp_signature> extract_tcp_signature(std::span<const std::uint8_t> ip_packet) noexcept {
  const std::uint8_t* pkt = ip_packet.data();
  std::size_t len = std::min(ip_packet.size(), p0f_snaplen);
  if (len < min_tcp4) {
    return std::nullopt;
  }

  tcp_signature s;
  std::size_t tcp_off = 0;
  const unsigned version = pkt[0] >> 4;

  if (version == 4) {
    const std::size_t hdr_len = static_cast<std::size_t>(pkt[0] & 0x0f) * 4;
    const std::size_t tot_len = load_be16(pkt + 2);
    const std::uint16_t flags_off = load_be16(pkt + 6);
    // Trailing bytes past the IP total length are link padding.
    len = std::min(len, tot_len);
    if (len < min_tcp4 || hdr_len < ipv4_hdr_len || tot_len > len ||
        hdr_len + tcp_hdr_len > len || pkt[9] != 6) {
      return std::nullopt;
    }
    // Fragments (MF or a non-zero offset) are skipped, as in p0f.
    if ((flags_off & 0x3fff) != 0) {
      return std::nullopt;
    }
    s.ip_version = 4;
    s.ip_opt_len = static_cast<std::uint8_t>(hdr_len - ipv4_hdr_len);
    s.tos = static_cast<std::uint8_t>(pkt[1] >> 2);
    s.ttl = pkt[8];
    if ((pkt[1] & 0x03) != 0) {
      s.quirks |= quirk::ecn;
    }
    if ((flags_off & 0x8000) != 0) {
      s.quirks |= quirk::nz_mbz;
    }
    const bool ip_id_zero = pkt[4] == 0 && pkt[5] == 0;
    if ((flags_off & 0x4000) != 0) {
      s.quirks |= quirk::df;
      if (!ip_id_zero) {
        s.quirks |= quirk::nz_id;
      }
    } else if (ip_id_zero) {
      s.quirks |= quirk::zero_id;
    }
    tcp_off = hdr_len;
  } else if (version == 6) {
    const std::uint32_t ver_tc_flow = load_be32(pkt);
    const std::size_t tot_len = std::size_t{load_be16(pkt + 4)} + ipv6_hdr_len;
    len = std::min(len, tot_len);
    // Extension headers are not walked: p0f wants TCP right after the header.
    if (len < min_tcp6 || tot_len > len || pkt[6] != 6) {
      return std::nullopt;
    }
    s.ip_version = 6;
    s.tos = static_cast<std::uint8_t>((ver_tc_flow >> 22) & 0x3f);
    s.ttl = pkt[7];
    if ((ver_tc_flow & 0xfffff) != 0) {
      s.quirks |= quirk::flow;
    }
    if (((ver_tc_flow >> 20) & 0x03) != 0) {
      s.quirks |= quirk::ecn;
    }
    tcp_off = ipv6_hdr_len;
  } else {
    return std::nullopt;
  }

  // TCP. The checks above guarantee 20 bytes of TCP header.
  const std::uint8_t* t = pkt + tcp_off;
  const std::size_t tcp_len = len - tcp_off;
  const std::size_t doff = static_cast<std::size_t>(t[12] >> 4) * 4;
  if (doff < tcp_hdr_len || doff > tcp_len) {
    return std::nullopt;
  }
  const std::uint8_t flags = t[13];
  const std::uint8_t type = flags & (tcp_syn | tcp_ack | tcp_fin | tcp_rst);
  if (type != tcp_syn && type != (tcp_syn | tcp_ack)) {
    return std::nullopt;
  }
  s.syn_ack = type != tcp_syn;
  s.tot_hdr = static_cast<std::uint16_t>(tcp_off + doff);
  s.src_port = load_be16(t);
  s.dst_port = load_be16(t + 2);
  s.seq = load_be32(t + 4);
  s.window = load_be16(t + 14);
  s.payload = tcp_len > doff;

  if ((flags & (tcp_ece | tcp_cwr)) != 0 || (t[12] & 0x01) != 0) {
    s.quirks |= quirk::ecn;
  }
  if (s.seq == 0) {
    s.quirks |= quirk::zero_seq;
  }
  if ((flags & tcp_ack) != 0) {
    if (load_be32(t + 8) == 0) {
      s.quirks |= quirk::zero_ack;
    }
  } else if ((t[8] & 0x01) != 0) {
    // p0f 3.09b computes `ack & !(flags & RST)` on the raw little-endian load,
    // so only bit 0 of the first ack byte counts. Copied to keep verdicts equal.
    s.quirks |= quirk::nz_ack;
  }
  if ((flags & tcp_urg) != 0) {
    s.quirks |= quirk::urg;
  } else if (t[18] != 0 || t[19] != 0) {
    s.quirks |= quirk::nz_urg;
  }
  if ((flags & tcp_push) != 0) {
    s.quirks |= quirk::push;
  }

  // Options: [20, doff). Problems are recorded as quirks, never fatal.
  std::size_t p = tcp_hdr_len;
  const std::size_t end = doff;
  bool aborted = false;
  while (p < end && s.opt_count < p0f_max_tcp_options && !aborted) {
    const std::uint8_t kind = t[p];
    s.opt_layout[s.opt_count++] = kind;
    ++p;  // p now indexes the length byte, which may equal end
    switch (kind) {
      case opt_eol: {
        s.opt_eol_pad = static_cast<std::uint8_t>(end - p);
        // p0f stops at the first non-zero byte but steps past it, so a non-zero
        // byte in the very last position goes unnoticed. Same here.
        while (p < end) {
          const std::uint8_t b = t[p++];
          if (b != 0) {
            break;
          }
        }
        if (p != end) {
          s.quirks |= quirk::opt_eol_nz;
          p = end;
        }
        break;
      }
      case opt_nop:
        break;
      case opt_mss:
        if (p + 3 > end) {
          aborted = true;
          break;
        }
        if (t[p] != 4) {
          s.quirks |= quirk::opt_bad;
        }
        s.mss = load_be16(t + p + 1);
        p += 3;
        break;
      case opt_ws:
        if (p + 2 > end) {
          aborted = true;
          break;
        }
        if (t[p] != 3) {
          s.quirks |= quirk::opt_bad;
        }
        s.wscale = t[p + 1];
        if (s.wscale > 14) {
          s.quirks |= quirk::opt_exws;
        }
        p += 2;
        break;
      case opt_sackok:
        if (p + 1 > end) {
          aborted = true;
          break;
        }
        if (t[p] != 2) {
          s.quirks |= quirk::opt_bad;
        }
        p += 1;
        break;
      case opt_sack: {
        if (p == end) {
          aborted = true;
          break;
        }
        const std::size_t olen = t[p];
        if (olen < 10 || olen > 34 || p - 1 + olen > end) {
          aborted = true;
          break;
        }
        p += olen - 1;
        break;
      }
      case opt_ts:
        if (p + 9 > end) {
          aborted = true;
          break;
        }
        if (t[p] != 10) {
          s.quirks |= quirk::opt_bad;
        }
        s.ts1 = load_be32(t + p + 1);
        if (s.ts1 == 0) {
          s.quirks |= quirk::opt_zero_ts1;
        }
        if (!s.syn_ack && load_be32(t + p + 5) != 0) {
          s.quirks |= quirk::opt_nz_ts2;
        }
        p += 9;
        break;
      default: {
        if (p == end) {
          aborted = true;
          break;
        }
        const std::size_t olen = t[p];
        if (olen < 2 || olen > 40 || p - 1 + olen > end) {
          aborted = true;
          break;
        }
        p += olen - 1;
        break;
      }
    }
  }
  if (aborted || p != end) {
    s.quirks |= quirk::opt_bad;
  }
  return s;
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

namespace {

using win_kind = p0f_db::win_kind;
using tcp_record = p0f_db::tcp_record;

// What the matcher compares: a packet, or (for the loader's duplicate check)
// another database signature.
struct probe {
  std::int8_t ip_ver = 4;
  std::uint8_t ttl = 0;
  std::uint8_t ip_opt_len = 0;
  std::uint8_t opt_eol_pad = 0;
  std::int32_t mss = 0;
  std::uint16_t win = 0;
  win_kind win_type = win_kind::normal;
  std::int16_t wscale = 0;
  std::int8_t pay_class = 0;
  std::uint16_t tot_hdr = 0;
  std::uint32_t ts1 = 0;
  std::uint32_t quirks = 0;
  const std::uint8_t* layout = nullptr;
  std::size_t opt_count = 0;
};

probe probe_of(const tcp_signature& s) noexcept {
  probe p;
  p.ip_ver = static_cast<std::int8_t>(s.ip_version);
  p.ttl = s.ttl;
  p.ip_opt_len = s.ip_opt_len;
  p.opt_eol_pad = s.opt_eol_pad;
  p.mss = s.mss;
  p.win = s.window;
  p.win_type = win_kind::normal;
  p.wscale = s.wscale;
  p.pay_class = s.payload ? 1 : 0;
  p.tot_hdr = s.tot_hdr;
  p.ts1 = s.ts1;
  p.quirks = s.quirks;
  p.layout = s.opt_layout.data();
  p.opt_count = s.opt_count;
  return p;
}

probe probe_of(const tcp_record& r) noexcept {
  probe p;
  p.ip_ver = r.ip_ver;
  p.ttl = r.ttl;
  p.ip_opt_len = r.ip_opt_len;
  p.opt_eol_pad = r.opt_eol_pad;
  p.mss = r.mss;
  p.win = r.win;
  p.win_type = r.win_type;
  p.wscale = r.wscale;
  p.pay_class = r.pay_class;
  p.quirks = r.quirks;
  p.layout = r.opt_layout.data();
  p.opt_count = r.opt_count;
  return p;
}

int guess_dist(std::uint8_t ttl) noexcept {
  if (ttl <= 32) {
    return 32 - ttl;
  }
  if (ttl <= 64) {
    return 64 - ttl;
  }
  if (ttl <= 128) {
    return 128 - ttl;
  }
  return 255 - ttl;
}

struct win_multiple {
  int multiplier = -1;  // > 0 when found
  bool of_mtu = false;  // "mtu*N" rather than "mss*N"
};

// Is the window a multiple of the MSS, of a typical MSS, or of an MTU? The
// divisors are tried in p0f's order; the first that divides wins.
win_multiple detect_win_multi(const probe& p, std::uint16_t syn_mss) noexcept {
  const int win = p.win;
  const int mss = p.mss;
  if (win == 0 || mss < 100 || p.win_type != win_kind::normal) {
    return {};
  }
  struct divisor {
    int value;
    bool of_mtu;
    bool enabled;
  };
  const bool v6 = p.ip_ver == 6;
  const divisor divisors[] = {
      {mss, false, true},
      {mss - 12, false, p.ts1 != 0},  // some stacks subtract timestamp room
      {1500 - 40, false, true},       // MSS of a 1500 MTU on the wrong interface
      {1500 - 40 - 12, false, true},
      {1500 - 60, false, v6},
      {1500 - 60 - 12, false, v6},
      {mss + 40, true, true},          // MTU used instead of MSS
      {mss + p.tot_hdr, true, true},
      {mss + 60, true, v6},
      {1500, true, true},
      {syn_mss, false, syn_mss != 0},  // SYN+ACK sized from the peer's MSS
      {syn_mss - 12, false, syn_mss != 0},
  };
  for (const auto& d : divisors) {
    // A zero divisor would crash p0f (syn_mss == 12); negative ones divide as
    // in C and yield a negative multiplier that nothing can match.
    if (!d.enabled || d.value == 0) {
      continue;
    }
    if (win % d.value == 0) {
      return {win / d.value, d.of_mtu};
    }
  }
  return {};
}

struct match_result {
  const tcp_record* rec = nullptr;
  bool fuzzy = false;
  int dist = 0;
};

bool same_layout(const tcp_record& r, const probe& p) noexcept {
  return r.opt_count == p.opt_count &&
         std::equal(r.opt_layout.begin(), r.opt_layout.begin() + r.opt_count, p.layout);
}

// p0f's tcp_find_match(). With `dupe_check` only an exact match of a specific
// (non-generic) signature counts, which is how p0f refuses redundant entries.
match_result find_match(const p0f_db::tcp_section& sec, const probe& ts, bool dupe_check,
                        std::uint16_t syn_mss) noexcept {
  const tcp_record* fmatch = nullptr;
  const tcp_record* gmatch = nullptr;
  const win_multiple wm = detect_win_multi(ts, syn_mss);

  const auto bucket = sec.by_layout.find(layout_hash(ts.layout, ts.opt_count));
  if (bucket != sec.by_layout.end()) {
    for (const std::uint32_t idx : bucket->second) {
      const tcp_record& ref = sec.sigs[idx];
      if (!same_layout(ref, ts)) {
        continue;
      }
      bool fuzzy = false;
      std::uint32_t ref_quirks = ref.quirks;
      // A version-less signature loses the quirks that cannot occur in the
      // packet's IP version. p0f does not otherwise compare IP versions.
      if (ref.ip_ver == -1) {
        ref_quirks &= ts.ip_ver == 4 ? ~quirk::flow : ~(quirk::df | quirk::nz_id | quirk::zero_id);
      }
      if (ref_quirks != ts.quirks) {
        const std::uint32_t deleted = (ref_quirks ^ ts.quirks) & ref_quirks;
        const std::uint32_t added = (ref_quirks ^ ts.quirks) & ts.quirks;
        // Losing df/id+ or gaining id-/ecn is tolerated as a fuzzy match.
        if (fmatch != nullptr || (deleted & ~(quirk::df | quirk::nz_id)) != 0 ||
            (added & ~(quirk::zero_id | quirk::ecn)) != 0) {
          continue;
        }
        fuzzy = true;
      }
      if (ref.opt_eol_pad != ts.opt_eol_pad || ref.ip_opt_len != ts.ip_opt_len) {
        continue;
      }
      if (ref.bad_ttl) {
        if (ref.ttl < ts.ttl) {
          continue;
        }
      } else if (ref.ttl < ts.ttl || ref.ttl - ts.ttl > p0f_max_dist) {
        fuzzy = true;
      }
      if ((ref.mss != -1 && ref.mss != ts.mss) || (ref.wscale != -1 && ref.wscale != ts.wscale) ||
          (ref.pay_class != -1 && ref.pay_class != ts.pay_class)) {
        continue;
      }
      if (ts.win_type != win_kind::normal) {
        // Signature against signature (duplicate check).
        if (ref.win_type != ts.win_type || ref.win != ts.win) {
          continue;
        }
      } else {
        switch (ref.win_type) {
          case win_kind::normal:
            if (ref.win != ts.win) {
              continue;
            }
            break;
          case win_kind::mod:
            if (ts.win % ref.win != 0) {
              continue;
            }
            break;
          case win_kind::mss:
            if (wm.of_mtu || ref.win != wm.multiplier) {
              continue;
            }
            break;
          case win_kind::mtu:
            if (!wm.of_mtu || ref.win != wm.multiplier) {
              continue;
            }
            break;
          case win_kind::any:
            break;
        }
      }
      if (!fuzzy) {
        if (!ref.generic) {
          return {&ref, false, ref.ttl - ts.ttl};
        }
        if (gmatch == nullptr) {
          gmatch = &ref;
        }
      } else if (fmatch == nullptr) {
        fmatch = &ref;
      }
    }
  }

  if (dupe_check) {
    return {};
  }
  if (gmatch != nullptr) {
    return {gmatch, false, gmatch->ttl - ts.ttl};
  }
  // No fuzzy matching for userland tools; p0f then reports "???" at distance 0.
  if (fmatch != nullptr && fmatch->userland) {
    return {nullptr, false, 0};
  }
  match_result r;
  if (fmatch == nullptr || fmatch->ttl < ts.ttl ||
      (!fmatch->bad_ttl && fmatch->ttl - ts.ttl > p0f_max_dist)) {
    r.dist = guess_dist(ts.ttl);
  } else {
    r.dist = fmatch->ttl - ts.ttl;
  }
  r.rec = fmatch;
  r.fuzzy = fmatch != nullptr;
  return r;
}

void append_uint(std::string& out, unsigned long v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

}  // namespace

int guess_distance(std::uint8_t ttl) noexcept { return guess_dist(ttl); }

std::string raw_signature(const tcp_signature& sig, std::uint16_t syn_mss) {
  const std::uint16_t peer_mss = sig.syn_ack ? syn_mss : 0;
  std::string out;
  out.reserve(96);
  append_uint(out, sig.ip_version);
  out += ':';
  append_uint(out, sig.ttl);
  out += '+';
  const int dist = guess_dist(sig.ttl);
  if (dist > p0f_max_dist) {
    out += '?';
  } else {
    append_uint(out, static_cast<unsigned long>(dist));
  }
  out += ':';
  append_uint(out, sig.ip_opt_len);
  out += ':';
  if (sig.syn_ack && sig.mss == sendsyn_mss) {
    out += '*';  // p0f-sendsyn echo: suggest a wildcard
  } else {
    append_uint(out, sig.mss);
  }
  out += ':';
  const win_multiple wm = detect_win_multi(probe_of(sig), peer_mss);
  if (wm.multiplier > 0) {
    out += wm.of_mtu ? "mtu*" : "mss*";
    append_uint(out, static_cast<unsigned long>(wm.multiplier));
  } else {
    append_uint(out, sig.window);
  }
  out += ',';
  append_uint(out, sig.wscale);
  out += ':';
  for (std::size_t i = 0; i < sig.opt_count; ++i) {
    if (i != 0) {
      out += ',';
    }
    switch (sig.opt_layout[i]) {
      case opt_eol:
        out += "eol+";
        append_uint(out, sig.opt_eol_pad);
        break;
      case opt_nop:
        out += "nop";
        break;
      case opt_mss:
        out += "mss";
        break;
      case opt_ws:
        out += "ws";
        break;
      case opt_sackok:
        out += "sok";
        break;
      case opt_sack:
        out += "sack";
        break;
      case opt_ts:
        out += "ts";
        break;
      default:
        out += '?';
        append_uint(out, sig.opt_layout[i]);
        break;
    }
  }
  out += ':';
  static constexpr std::pair<std::uint32_t, const char*> names[] = {
      {quirk::df, "df"},
      {quirk::nz_id, "id+"},
      {quirk::zero_id, "id-"},
      {quirk::ecn, "ecn"},
      {quirk::nz_mbz, "0+"},
      {quirk::flow, "flow"},
      {quirk::zero_seq, "seq-"},
      {quirk::nz_ack, "ack+"},
      {quirk::zero_ack, "ack-"},
      {quirk::nz_urg, "uptr+"},
      {quirk::urg, "urgf+"},
      {quirk::push, "pushf+"},
      {quirk::opt_zero_ts1, "ts1-"},
      {quirk::opt_nz_ts2, "ts2+"},
      {quirk::opt_eol_nz, "opt+"},
      {quirk::opt_exws, "exws"},
      {quirk::opt_bad, "bad"},
  };
  bool first = true;
  for (const auto& [bit, name] : names) {
    if ((sig.quirks & bit) != 0) {
      if (!first) {
        out += ',';
      }
      out += name;
      first = false;
    }
  }
  out += sig.payload ? ":+" : ":0";
  return out;
}

std::optional<p0f_verdict> match(const p0f_db& db, const tcp_signature& sig, std::uint16_t syn_mss) {
  const std::uint16_t peer_mss = sig.syn_ack ? syn_mss : 0;
  const match_result m = find_match(db.section(sig.syn_ack), probe_of(sig), false, peer_mss);
  if (m.rec == nullptr) {
    return std::nullopt;
  }
  const p0f_label& l = db.label(m.rec->label);
  p0f_verdict v;
  v.label = l.name;
  if (!l.flavor.empty()) {
    v.label += ' ';
    v.label += l.flavor;
  }
  v.generic = l.generic;
  v.fuzzy = m.fuzzy;
  v.random_ttl = m.rec->bad_ttl;
  v.userland = l.userland;
  v.distance = m.dist;
  // p0f keeps the distance in a byte; matched distances are 0..255 already.
  for (const auto& [on, text] : {std::pair{v.generic, "generic"}, std::pair{v.fuzzy, "fuzzy"},
                                 std::pair{v.random_ttl, "random_ttl"},
                                 std::pair{v.distance > p0f_max_dist, "excess_dist"}}) {
    if (on) {
      if (!v.params.empty()) {
        v.params += ' ';
      }
      v.params += text;
    }
  }
  if (sig.tos != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "tos:0x%02x", static_cast<unsigned>(sig.tos));
    if (!v.params.empty()) {
      v.params += ' ';
    }
    v.params += buf;
  }
  if (v.params.empty()) {
    v.params = "none";
  }
  v.raw_sig = raw_signature(sig, peer_mss);
  v.os_class = l.os_class;
  v.name = l.name;
  v.flavor = l.flavor;
  v.syn_ack = sig.syn_ack;
  v.line = m.rec->line;
  return v;
}

std::string_view p0f_db::mtu_label(std::uint32_t mtu) const noexcept {
  for (const auto& [value, label] : mtus_) {
    if (value == mtu) {
      return label;
    }
  }
  return {};
}

std::optional<p0f_mtu_verdict> match_mtu(const p0f_db& db, const tcp_signature& sig) noexcept {
  if (sig.mss == 0) {
    return std::nullopt;
  }
  p0f_mtu_verdict v;
  v.mtu = std::uint32_t{sig.mss} + (sig.ip_version == 4 ? 40u : 60u);
  v.link = db.mtu_label(v.mtu);
  return v;
}

// ---------------------------------------------------------------------------
// p0f.fp parsing
// ---------------------------------------------------------------------------

namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }
// Characters besides alphanumerics allowed in OS and application names.
bool is_name_char(char c) noexcept {
  return is_alnum(c) || (c != '\0' && std::string_view(" ./-_!?()").find(c) != std::string_view::npos);
}
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool iequal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// A cursor over one value. Reading past the end yields '\0', which is how the
// C parser sees the end of its NUL-terminated line, so the rules carry over.
struct scanner {
  std::string_view s;
  std::size_t i = 0;
  char at(std::size_t k = 0) const noexcept { return i + k < s.size() ? s[i + k] : '\0'; }
  bool starts(std::string_view w) const noexcept { return s.substr(std::min(i, s.size())).starts_with(w); }
  // Digits from the cursor; returns the count. The value saturates so that a
  // long run is reported as out of range instead of wrapping.
  std::size_t digits(long& value) const noexcept {
    std::size_t n = 0;
    value = 0;
    while (is_digit(at(n))) {
      value = std::min(value * 10 + (at(n) - '0'), 1L << 40);
      ++n;
    }
    return n;
  }
};

}  // namespace

class p0f_db_parser {
 public:
  p0f_db_parser(p0f_db& db, const std::string& name) : db_(db), name_(name) {}

  void run(std::string_view text) {
    // p0f reads up to the first NUL.
    text = text.substr(0, text.find('\0'));
    std::size_t pos = 0;
    while (true) {
      ++line_no_;
      while (pos < text.size() && is_blank(text[pos])) {
        ++pos;
      }
      std::size_t eol = text.find('\n', pos);
      if (eol == std::string_view::npos) {
        eol = text.size();
      }
      const std::string_view line = text.substr(pos, eol - pos);
      if (!line.empty() && line[0] != ';') {
        parse_line(line);
      }
      if (eol >= text.size()) {
        break;
      }
      pos = eol + 1;
    }
  }

 private:
  enum class state : std::uint8_t { need_sect, need_label, need_sys, need_sig };
  enum class module : std::uint8_t { none, tcp, http, mtu };

  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error(name_ + ":" + std::to_string(line_no_) + ": " + why);
  }

  void parse_line(std::string_view line) {
    if (line[0] == '[') {
      parse_section(line.substr(1));
      return;
    }
    std::size_t k = 0;
    while (k < line.size() && (is_alpha(line[k]) || line[k] == '_')) {
      ++k;
    }
    const std::string_view key = line.substr(0, k);
    std::size_t v = k;
    while (v < line.size() && is_blank(line[v])) {
      ++v;
    }
    if (v == 0 || v >= line.size() || line[v] != '=') {
      fail("unexpected statement");
    }
    ++v;
    while (v < line.size() && is_blank(line[v])) {
      ++v;
    }
    const std::string_view val = line.substr(v);

    if (key == "classes") {
      if (state_ != state::need_sect) {
        fail("misplaced 'classes'");
      }
      parse_classes(val);
    } else if (key == "ua_os") {
      if (state_ != state::need_label || !to_srv_ || module_ != module::http) {
        fail("misplaced 'ua_os'");
      }
      // HTTP user-agent map: not used for TCP fingerprints.
    } else if (key == "label") {
      if (state_ != state::need_label && state_ != state::need_sig) {
        fail("misplaced 'label'");
      }
      parse_label(val);
      state_ = (module_ != module::mtu && label_userland_) ? state::need_sys : state::need_sig;
    } else if (key == "sys") {
      if (state_ != state::need_sys) {
        fail("misplaced 'sys'");
      }
      parse_sys(val);
      state_ = state::need_sig;
    } else if (key == "sig") {
      if (state_ != state::need_sig) {
        fail("misplaced 'sig'");
      }
      switch (module_) {
        case module::tcp:
          parse_tcp_sig(val);
          break;
        case module::mtu:
          parse_mtu_sig(val);
          break;
        case module::http:
          ++db_.http_sigs_;  // HTTP signatures are counted, not interpreted
          break;
        case module::none:
          break;
      }
    } else {
      fail("unrecognized field '" + std::string(key) + "'");
    }
  }

  void parse_section(std::string_view s) {
    if (s == "mtu]") {
      module_ = module::mtu;
      state_ = state::need_label;
      return;
    }
    const std::size_t colon = s.find(':');
    if (colon == std::string_view::npos) {
      fail("malformed section identifier");
    }
    const std::string_view mod = s.substr(0, colon);
    const std::string_view dir = s.substr(colon + 1);
    if (mod == "tcp") {
      module_ = module::tcp;
    } else if (mod == "http") {
      module_ = module::http;
    } else {
      fail("unrecognized fingerprinting module '" + std::string(mod) + "'");
    }
    if (dir == "request]") {
      to_srv_ = true;
    } else if (dir == "response]") {
      to_srv_ = false;
    } else {
      fail("unrecognized traffic direction");
    }
    state_ = state::need_label;
  }

  void parse_classes(std::string_view val) {
    std::size_t i = 0;
    while (i < val.size()) {
      while (i < val.size() && (is_blank(val[i]) || val[i] == ',')) {
        ++i;
      }
      std::size_t j = i;
      while (j < val.size() && is_alnum(val[j])) {
        ++j;
      }
      if (j == i || (j < val.size() && val[j] != ',')) {
        fail("malformed class entry");
      }
      classes_.emplace_back(val.substr(i, j - i));
      i = j;
    }
  }

  // Index of a class (case-insensitive), or fail.
  std::size_t class_index(std::string_view c) const {
    for (std::size_t i = 0; i < classes_.size(); ++i) {
      if (iequal(classes_[i], c)) {
        return i;
      }
    }
    fail("unknown class '" + std::string(c) + "'");
  }

  // Names are case-insensitive; the first spelling seen is the one p0f prints.
  const std::string& name_of(std::string_view n) {
    for (const auto& known : names_) {
      if (iequal(known, n)) {
        return known;
      }
    }
    names_.emplace_back(n);
    return names_.back();
  }

  void parse_label(std::string_view val) {
    if (module_ == module::mtu) {
      if (val.empty()) {
        fail("empty MTU label");
      }
      mtu_label_ = std::string(val);
      return;
    }
    p0f_label l;
    if (val.size() < 2 || (val[0] != 'g' && val[0] != 's') || val[1] != ':') {
      fail("malformed class entry");
    }
    l.generic = val[0] == 'g';
    std::size_t i = 2;
    std::size_t j = i;
    while (j < val.size() && (is_alnum(val[j]) || val[j] == '!')) {
      ++j;
    }
    if (j == i || j >= val.size() || val[j] != ':') {
      fail("malformed class entry");
    }
    const std::string_view cls = val.substr(i, j - i);
    if (cls == "!") {
      l.userland = true;
      l.os_class = "!";
    } else {
      l.os_class = classes_[class_index(cls)];
    }
    i = j + 1;
    j = i;
    while (j < val.size() && is_name_char(val[j])) {
      ++j;
    }
    if (j == i || j >= val.size() || val[j] != ':') {
      fail("malformed name");
    }
    l.name = name_of(val.substr(i, j - i));
    l.flavor = std::string(val.substr(j + 1));
    label_userland_ = l.userland;
    db_.labels_.push_back(std::move(l));
    have_label_ = true;
  }

  void parse_sys(std::string_view val) {
    p0f_label& l = db_.labels_.back();
    std::size_t i = 0;
    while (i < val.size()) {
      while (i < val.size() && (is_blank(val[i]) || val[i] == ',')) {
        ++i;
      }
      const bool is_class = i < val.size() && val[i] == '@';
      if (is_class) {
        ++i;
      }
      std::size_t j = i;
      while (j < val.size() && is_name_char(val[j])) {
        ++j;
      }
      if (j == i || (j < val.size() && val[j] != ',')) {
        fail("malformed sys entry");
      }
      const std::string_view item = val.substr(i, j - i);
      if (is_class) {
        l.sys.push_back("@" + classes_[class_index(item)]);
      } else {
        l.sys.push_back(name_of(item));
      }
      i = j;
    }
  }

  void parse_mtu_sig(std::string_view val) {
    scanner sc{val};
    long mtu = 0;
    const std::size_t n = sc.digits(mtu);
    if (n == 0 || n != val.size() || mtu <= 0 || mtu > 65535) {
      fail("malformed MTU value");
    }
    db_.mtus_.emplace_back(static_cast<std::uint32_t>(mtu), mtu_label_);
  }

  // Reads digits followed by one of `stops`; fails with `what` otherwise.
  long number(scanner& sc, std::string_view stops, const char* what) const {
    long v = 0;
    const std::size_t n = sc.digits(v);
    const char c = sc.at(n);
    if (c == '\0' || stops.find(c) == std::string_view::npos) {
      fail(std::string("malformed ") + what);
    }
    sc.i += n;
    return v;
  }

  void parse_tcp_sig(std::string_view val) {
    if (!have_label_) {
      fail("signature without a label");
    }
    tcp_record r;
    r.label = static_cast<std::uint32_t>(db_.labels_.size() - 1);
    r.generic = db_.labels_.back().generic;
    r.userland = db_.labels_.back().userland;
    r.line = line_no_;
    scanner sc{val};

    switch (sc.at()) {
      case '4':
        r.ip_ver = 4;
        break;
      case '6':
        r.ip_ver = 6;
        break;
      case '*':
        r.ip_ver = -1;
        break;
      default:
        fail("unrecognized IP version");
    }
    if (sc.at(1) != ':') {
      fail("malformed signature");
    }
    sc.i += 2;

    // Initial TTL: "64", "64+3" (ttl plus distance) or "64-" (random TTL).
    long ttl = 0;
    const std::size_t tn = sc.digits(ttl);
    const char after = sc.at(tn);
    if (after != ':' && after != '+' && after != '-') {
      fail("malformed signature");
    }
    if (ttl < 1 || ttl > 255) {
      fail("bogus initial TTL");
    }
    sc.i += tn + 1;
    if (after == '-' && sc.at() == ':') {
      r.bad_ttl = true;
      // p0f steps two characters here, past ':' and the first character of the
      // IP option length; with the usual "0" that changes nothing.
      sc.i += 2;
    } else if (after == '+') {
      long add = 0;
      const std::size_t an = sc.digits(add);
      if (sc.at(an) != ':') {
        fail("malformed signature");
      }
      if (ttl + add > 255) {
        fail("bogus initial TTL");
      }
      ttl += add;
      sc.i += an + 1;
    }
    r.ttl = static_cast<std::uint8_t>(ttl);

    const long olen = number(sc, ":", "signature");
    if (olen > 255) {
      fail("bogus IP option length");
    }
    r.ip_opt_len = static_cast<std::uint8_t>(olen);
    ++sc.i;

    if (sc.at() == '*' && sc.at(1) == ':') {
      r.mss = -1;
      sc.i += 2;
    } else {
      const long mss = number(sc, ":", "signature");
      if (mss > 65535) {
        fail("bogus MSS");
      }
      r.mss = static_cast<std::int32_t>(mss);
      ++sc.i;
    }

    if (sc.at() == '*' && sc.at(1) == ',') {
      r.win_type = win_kind::any;
      sc.i += 2;
    } else if (sc.at() == '%') {
      ++sc.i;
      const long w = number(sc, ",", "signature");
      if (w < 2 || w > 65535) {
        fail("bogus '%' value");
      }
      r.win_type = win_kind::mod;
      r.win = static_cast<std::uint16_t>(w);
      ++sc.i;
    } else if (sc.starts("mss*") || sc.starts("mtu*")) {
      r.win_type = sc.at(1) == 's' ? win_kind::mss : win_kind::mtu;
      sc.i += 4;
      const long w = number(sc, ",", "signature");
      if (w < 1 || w > 1000) {
        fail("bogus MSS/MTU multiplier");
      }
      r.win = static_cast<std::uint16_t>(w);
      ++sc.i;
    } else {
      const long w = number(sc, ",", "signature");
      if (w > 65535) {
        fail("bogus window size");
      }
      r.win = static_cast<std::uint16_t>(w);
      ++sc.i;
    }

    if (sc.at() == '*' && sc.at(1) == ':') {
      r.wscale = -1;
      sc.i += 2;
    } else {
      const long ws = number(sc, ":", "signature");
      if (ws > 255) {
        fail("bogus window scale");
      }
      r.wscale = static_cast<std::int16_t>(ws);
      ++sc.i;
    }

    parse_tcp_options(sc, r);
    parse_tcp_quirks(sc, r);

    const std::string_view pay = sc.s.substr(std::min(sc.i, sc.s.size()));
    if (pay == "*") {
      r.pay_class = -1;
    } else if (pay == "0") {
      r.pay_class = 0;
    } else if (pay == "+") {
      r.pay_class = 1;
    } else {
      fail("malformed payload class");
    }

    p0f_db::tcp_section& sec = to_srv_ ? db_.request_ : db_.response_;
    const match_result dup = find_match(sec, probe_of(r), true, 0);
    if (dup.rec != nullptr) {
      fail("signature is already covered by line " + std::to_string(dup.rec->line));
    }
    sec.sigs.push_back(r);
    sec.by_layout[layout_hash(r.opt_layout.data(), r.opt_count)].push_back(
        static_cast<std::uint32_t>(sec.sigs.size() - 1));
  }

  void parse_tcp_options(scanner& sc, tcp_record& r) {
    static constexpr std::pair<std::string_view, std::uint8_t> simple[] = {
        {"nop", opt_nop}, {"mss", opt_mss}, {"ws", opt_ws},  {"sok", opt_sackok},
        {"sack", opt_sack}, {"ts", opt_ts},
    };
    while (sc.at() != ':') {
      if (r.opt_count >= p0f_max_tcp_options) {
        fail("too many TCP options");
      }
      if (sc.starts("eol")) {
        r.opt_layout[r.opt_count++] = opt_eol;
        sc.i += 3;
        if (sc.at() != '+') {
          fail("malformed EOL option");
        }
        ++sc.i;
        long pad = 0;
        const std::size_t n = sc.digits(pad);
        if (sc.at(n) == '\0') {
          fail("truncated options");
        }
        if (sc.at(n) != ':') {
          fail("EOL must be the last option");
        }
        if (pad > 255) {
          fail("bogus EOL padding");
        }
        r.opt_eol_pad = static_cast<std::uint8_t>(pad);
        sc.i += n;
      } else if (sc.at() == '?') {
        ++sc.i;
        long kind = 0;
        const std::size_t n = sc.digits(kind);
        if (sc.at(n) != ':' && sc.at(n) != ',') {
          fail("malformed '?' option");
        }
        if (kind > 255) {
          fail("bogus '?' option");
        }
        r.opt_layout[r.opt_count++] = static_cast<std::uint8_t>(kind);
        sc.i += n;
      } else {
        bool found = false;
        for (const auto& [word, kind] : simple) {
          if (sc.starts(word)) {
            r.opt_layout[r.opt_count++] = kind;
            sc.i += word.size();
            found = true;
            break;
          }
        }
        if (!found) {
          fail("unrecognized TCP option");
        }
      }
      if (sc.at() == ':') {
        break;
      }
      if (sc.at() != ',') {
        fail("malformed TCP options");
      }
      ++sc.i;
    }
    ++sc.i;
  }

  void parse_tcp_quirks(scanner& sc, tcp_record& r) {
    struct quirk_word {
      std::string_view word;
      std::uint32_t bit;
      std::int8_t invalid_for;  // IP version the quirk cannot appear in, or 0
    };
    static constexpr quirk_word words[] = {
        {"df", quirk::df, 6},           {"id+", quirk::nz_id, 6},
        {"id-", quirk::zero_id, 6},     {"ecn", quirk::ecn, 0},
        {"0+", quirk::nz_mbz, 6},       {"flow", quirk::flow, 4},
        {"seq-", quirk::zero_seq, 0},   {"ack+", quirk::nz_ack, 0},
        {"ack-", quirk::zero_ack, 0},   {"uptr+", quirk::nz_urg, 0},
        {"urgf+", quirk::urg, 0},       {"pushf+", quirk::push, 0},
        {"ts1-", quirk::opt_zero_ts1, 0}, {"ts2+", quirk::opt_nz_ts2, 0},
        {"opt+", quirk::opt_eol_nz, 0}, {"exws", quirk::opt_exws, 0},
        {"bad", quirk::opt_bad, 0},
    };
    while (sc.at() != ':') {
      bool found = false;
      for (const auto& w : words) {
        if (sc.starts(w.word)) {
          if (w.invalid_for != 0 && r.ip_ver == w.invalid_for) {
            fail("'" + std::string(w.word) + "' is not valid for IPv" +
                 std::to_string(static_cast<int>(w.invalid_for)));
          }
          r.quirks |= w.bit;
          sc.i += w.word.size();
          found = true;
          break;
        }
      }
      if (!found) {
        fail("unrecognized quirk");
      }
      if (sc.at() == ':') {
        break;
      }
      if (sc.at() != ',') {
        fail("malformed quirks");
      }
      ++sc.i;
    }
    ++sc.i;
  }

  p0f_db& db_;
  const std::string& name_;
  std::uint32_t line_no_ = 0;
  state state_ = state::need_sect;
  module module_ = module::none;
  bool to_srv_ = false;
  bool label_userland_ = false;
  bool have_label_ = false;
  std::string mtu_label_;
  std::vector<std::string> classes_;
  std::vector<std::string> names_;
};

p0f_db p0f_db::parse(std::string_view text, const std::string& name) {
  p0f_db db;
  p0f_db_parser(db, name).run(text);
  return db;
}

p0f_db p0f_db::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(path + ": cannot open for reading");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    throw std::runtime_error(path + ": read error");
  }
  return parse(buf.str(), path);
}

}  // namespace tapsense::fp

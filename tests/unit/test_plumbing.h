#pragma once
// Plumbing shared by the protocol parser tests that check against real
// captures: hex fixtures, a pcap reader that decodes each frame, tshark field
// extraction, MANIFEST.tsv truth and the vendor tables under
// fingerprinter/data. Each test binary includes it once.
#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/net/bytes.h"
#include "common/net/decode.h"

namespace {
using namespace tapsense;

[[maybe_unused]] std::vector<std::uint8_t> from_hex(std::string_view h) {
  std::vector<std::uint8_t> v;
  int hi = -1;
  for (char c : h) {
    int n = -1;
    if (c >= '0' && c <= '9') {
      n = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      n = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      n = c - 'A' + 10;
    }
    if (n < 0) {
      continue;  // spaces and line breaks for readability
    }
    if (hi < 0) {
      hi = n;
    } else {
      v.push_back(static_cast<std::uint8_t>((hi << 4) | n));
      hi = -1;
    }
  }
  return v;
}

[[maybe_unused]] std::vector<std::uint8_t> text_bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

[[maybe_unused]] std::vector<std::uint8_t> cat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> v;
  for (const auto& p : parts) {
    v.insert(v.end(), p.begin(), p.end());
  }
  return v;
}

[[maybe_unused]] std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (;;) {
    const auto e = s.find(sep, b);
    out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) {
      return out;
    }
    b = e + 1;
  }
}

struct collecting_sink : proto::fact_sink {
  std::vector<proto::fact> facts;
  void add(proto::fact f) override { facts.push_back(std::move(f)); }
  // "field=value" of facts about `who`, in order.
  std::vector<std::string> about(proto::subject who) const {
    std::vector<std::string> v;
    for (const auto& f : facts) {
      if (f.about == who) {
        v.push_back(std::string(f.field) + "=" + f.value);
      }
    }
    return v;
  }
  std::string value(std::string_view field, proto::subject who = proto::subject::sender) const {
    for (const auto& f : facts) {
      if (f.about == who && f.field == field) {
        return f.value;
      }
    }
    return "<none>";
  }
};

struct pcap_frame {
  std::size_t number = 0;  // 1-based, as tshark numbers frames
  std::vector<std::uint8_t> data;
  net::packet_record rec{};
  net::layer_offsets off{};
  bool decoded = false;
  // L4 payload (TCP/UDP), bounded by the IP and UDP lengths.
  net::bytes payload() const {
    const net::bytes f(data);
    if (off.payload >= off.end) {
      return {};
    }
    std::size_t n = off.end - off.payload;
    if (rec.ip_proto == net::ipproto::udp) {
      n = std::min<std::size_t>(n, rec.l4_payload);
    }
    return f.subspan(off.payload, n);
  }
  // The frame after the innermost Ethernet header and VLAN tags.
  net::bytes l3() const { return net::bytes(data).subspan(off.l3, off.end - off.l3); }
  proto::packet_view view() const {
    proto::packet_view v;
    v.src_ip = rec.src_ip;
    v.dst_ip = rec.dst_ip;
    v.src_mac = rec.src_mac;
    v.dst_mac = rec.dst_mac;
    v.src_port = rec.src_port;
    v.dst_port = rec.dst_port;
    v.ip_proto = rec.ip_proto;
    v.has_ip = rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv4) ||
               rec.l3 == static_cast<std::uint8_t>(net::l3_type::ipv6);
    return v;
  }
};

// Classic libpcap files (either byte order), Ethernet link type, each frame
// decoded by the project's own L2-L4 decoder (as capture/aggregator do).
[[maybe_unused]] std::vector<pcap_frame> read_pcap(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::uint8_t> d((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
  std::vector<pcap_frame> out;
  if (d.size() < 24) {
    ADD_FAILURE() << path << ": too short for a pcap header";
    return out;
  }
  const std::uint32_t magic = net::load_le32(d.data());
  const bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
    ADD_FAILURE() << path << ": not a classic pcap file";
    return out;
  }
  auto u32 = [&](std::size_t off) {
    return swapped ? net::load_be32(d.data() + off) : net::load_le32(d.data() + off);
  };
  EXPECT_EQ(u32(20) & 0xffff, 1u) << path << ": Ethernet captures only";
  std::size_t off = 24;
  net::anomaly_counters anomalies;
  while (net::fits(d.size(), off, 16)) {
    const std::uint32_t caplen = u32(off + 8);
    const std::uint32_t wire = u32(off + 12);
    if (!net::fits(d.size(), off + 16, caplen)) {
      ADD_FAILURE() << path << ": record " << out.size() + 1 << " runs past the end";
      break;
    }
    pcap_frame fr;
    fr.number = out.size() + 1;
    fr.data.assign(d.begin() + static_cast<std::ptrdiff_t>(off + 16),
                   d.begin() + static_cast<std::ptrdiff_t>(off + 16 + caplen));
    fr.decoded = net::decode_frame(fr.data, wire, fr.rec, fr.off, anomalies);
    // GRE transparent Ethernet bridging (gre/erspan.pcap): decode the inner
    // frame, as a tunnel-aware decoder hands it to the parsers.
    if (fr.decoded && fr.rec.ip_proto == net::ipproto::gre && fr.rec.tunnel_depth == 0 &&
        net::fits(fr.data.size(), fr.off.l4, 4) &&
        net::load_be16(fr.data.data() + fr.off.l4 + 2) == 0x6558) {
      const std::uint16_t flags = net::load_be16(fr.data.data() + fr.off.l4);
      const std::size_t gre_len = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
                                  ((flags & 0x1000) ? 4 : 0);
      if (net::fits(fr.data.size(), fr.off.l4, gre_len)) {
        std::vector<std::uint8_t> inner(
            fr.data.begin() + static_cast<std::ptrdiff_t>(fr.off.l4 + gre_len), fr.data.end());
        fr.data = std::move(inner);
        fr.decoded = net::decode_frame(fr.data, 0, fr.rec, fr.off, anomalies);
      }
    }
    out.push_back(std::move(fr));
    off += 16 + caplen;
  }
  return out;
}

[[maybe_unused]] bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

// Field separator inside one tshark column (occurrence=a): a control byte
// that never appears in the values compared here.
constexpr char agg = '\x1f';

// tshark -T fields for `filter`, keyed by frame number; columns as `fields`
// (frame.number is prepended). Lines are split on '\n' only.
[[maybe_unused]] std::map<std::size_t, std::vector<std::string>> tshark_fields(
    const std::string& path, const std::string& filter, const std::vector<std::string>& fields,
    const std::string& extra = "") {
  std::string cmd = "tshark -r '" + path + "' " + extra + " -Y '" + filter +
                    "' -T fields -E separator=/t -E occurrence=a -E aggregator='" +
                    std::string(1, agg) + "' -e frame.number";
  for (const auto& f : fields) {
    cmd += " -e " + f;
  }
  cmd += " 2>/dev/null";
  std::map<std::size_t, std::vector<std::string>> rows;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return rows;
  }
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  EXPECT_EQ(::pclose(p), 0) << cmd;
  for (const auto& line : split(text, '\n')) {
    if (line.empty()) {
      continue;
    }
    auto cols = split(line, '\t');
    if (cols.size() != fields.size() + 1) {
      ADD_FAILURE() << "tshark row with " << cols.size() << " columns: " << line;
      continue;
    }
    const std::size_t frame = std::stoul(cols[0]);
    cols.erase(cols.begin());
    rows[frame] = std::move(cols);
  }
  return rows;
}

[[maybe_unused]] std::vector<std::string> values(const std::string& column) {
  if (column.empty()) {
    return {};
  }
  return split(column, agg);
}

// The MANIFEST.tsv ground-truth summary of a capture ("" when absent).
[[maybe_unused]] std::string manifest_truth(const std::string& root, const std::string& name) {
  std::ifstream f(root + "/MANIFEST.tsv");
  std::string line;
  while (std::getline(f, line)) {
    const auto cols = split(line, '\t');
    if (cols.size() > 7 && cols[0] == name) {
      return cols[7];
    }
  }
  return {};
}

// Counts compared fields per capture and prints the fraction that agreed.
struct agreement {
  std::string name;
  std::size_t compared = 0;
  std::size_t agreed = 0;
  void check(bool ok) {
    ++compared;
    agreed += ok ? 1 : 0;
  }
  void eq(const std::string& ours, const std::string& theirs, const std::string& what) {
    check(ours == theirs);
    EXPECT_EQ(ours, theirs) << name << ": " << what;
  }
  void report(const char* proto_name) const {
    std::cout << "[ " << proto_name << " ] " << name << ": " << agreed << "/" << compared
              << " fields agree" << std::endl;
  }
};

[[maybe_unused]] std::string u(std::uint64_t v) { return std::to_string(v); }

// fingerprinter/data/<file>: id -> name, checking every entry's shape.
[[maybe_unused]] std::map<std::uint32_t, std::string> load_vendor_table(const std::string& file) {
  std::map<std::uint32_t, std::string> out;
  const std::string path = std::string(TAPSENSE_SOURCE_DIR) + "/fingerprinter/data/" + file;
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    ADD_FAILURE() << path << ": " << e.description();
    return out;
  }
  EXPECT_TRUE(tbl["registry"].is_string()) << path << ": no registry";
  const auto* list = tbl["vendor"].as_array();
  if (list == nullptr) {
    ADD_FAILURE() << path << ": no [[vendor]] entries";
    return out;
  }
  for (const auto& node : *list) {
    const auto* t = node.as_table();
    if (t == nullptr) {
      ADD_FAILURE() << path << ": a vendor entry is not a table";
      continue;
    }
    const auto id = (*t)["id"].value<std::int64_t>();
    const auto name = (*t)["name"].value<std::string>();
    const auto source = (*t)["source"].value<std::string>();
    EXPECT_TRUE(id && name && source && !name->empty() && !source->empty())
        << path << ": every entry needs id, name and source";
    if (id && name) {
      EXPECT_TRUE(*id >= 0 && *id <= 0xffff) << path << ": id " << *id;
      EXPECT_EQ(out.count(static_cast<std::uint32_t>(*id)), 0u) << path << ": duplicate " << *id;
      out[static_cast<std::uint32_t>(*id)] = *name;
    }
  }
  EXPECT_LE(out.size(), 64u) << path << ": keep the table small";
  return out;
}

// tshark's own value-string table for a field: value -> name.
[[maybe_unused]] std::map<std::uint32_t, std::string> tshark_value_names(const std::string& field) {
  std::map<std::uint32_t, std::string> out;
  FILE* p = ::popen("tshark -G values 2>/dev/null", "r");
  if (p == nullptr) {
    return out;
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, n);
  }
  ::pclose(p);
  for (const auto& line : split(text, '\n')) {
    const auto c = split(line, '\t');
    if (c.size() == 4 && c[0] == "V" && c[1] == field) {
      out[static_cast<std::uint32_t>(std::stoul(c[2]))] = c[3];
    }
  }
  return out;
}

}  // namespace

// SSDP parser: cut and broken datagrams first, then NOTIFY / M-SEARCH /
// search-response fixtures with their facts, then agreement with tshark on
// the shared captures (one UDP payload per call, as the fingerprinter feeds
// it).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proto/ssdp.h"
#include "tests/unit/test_names_capture.h"

using namespace tapsense;
using proto::http_error;
using proto::parse_ssdp;
using proto::ssdp_kind;
using proto::ssdp_message;
using proto::subject;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct test_sink : proto::fact_sink {
  void add(proto::fact f) override { facts.push_back(std::move(f)); }
  std::vector<proto::fact> facts;
  bool has(std::string_view field, std::string_view value) const {
    for (const auto& f : facts) {
      if (f.about == subject::sender && f.field == field && f.value == value) {
        return true;
      }
    }
    return false;
  }
  std::string dump() const {
    std::string s;
    for (const auto& f : facts) {
      s += std::string(f.field) + "=" + f.value + "\n";
    }
    return s;
  }
};

proto::packet_view udp() {
  proto::packet_view p;
  p.src_ip = *net::ip_address::parse("192.168.1.1");
  p.dst_ip = *net::ip_address::parse("239.255.255.250");
  p.src_port = 1900;
  p.dst_port = 1900;
  p.ip_proto = 17;
  p.has_ip = true;
  return p;
}

const std::string notify =
    "NOTIFY * HTTP/1.1\r\n"
    "HOST: 239.255.255.250:1900\r\n"
    "CACHE-CONTROL: max-age=100\r\n"
    "LOCATION: http://192.168.1.1:1900/igd.xml\r\n"
    "NT: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
    "NTS: ssdp:alive\r\n"
    "SERVER: ipos/7.0 UPnP/1.0 TL-WDR3600/1.0\r\n"
    "USN: uuid:9f0865b3-f5da-4ad5-85b7-7404637fdf37::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
    "\r\n";

const std::string msearch =
    "M-SEARCH * HTTP/1.1\r\n"
    "HOST: 239.255.255.250:1900\r\n"
    "MAN: \"ssdp:discover\"\r\n"
    "MX: 1\r\n"
    "ST: urn:dial-multiscreen-org:service:dial:1\r\n"
    "USER-AGENT: Google Chrome/99.0.4844.74 Mac OS X\r\n"
    "\r\n";

// Windows answers without the final empty line.
const std::string response =
    "HTTP/1.1 200 OK\r\n"
    "ST:upnp:rootdevice\r\n"
    "USN:uuid:9319395a-4d03-4750-bb1b-4663933ab812::upnp:rootdevice\r\n"
    "Location:http://192.168.5.49:2869/upnphost/udhisapi.dll?content=uuid:9319395a-4d03-4750-bb1b-4663933ab812\r\n"
    "OPT:\"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n"
    "Cache-Control:max-age=900\r\n"
    "Server:Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0\r\n"
    "Ext:\r\n";

// ---------------------------------------------------------------------------
// Broken input

// Every cut of a datagram (a snap length): never a partial value, and what
// is there is the full parse's.
TEST(Ssdp, EveryCutDatagramKeepsWholeLinesOnly) {
  for (const std::string* full : {&notify, &msearch, &response}) {
    ssdp_message whole;
    ASSERT_EQ(parse_ssdp(bytes_of(*full), whole), http_error::none);
    test_sink all;
    proto::ssdp_facts(whole, udp(), all);
    for (std::size_t len = 0; len <= full->size(); ++len) {
      const std::vector<std::uint8_t> cut(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(len));
      ssdp_message m;
      const http_error e = parse_ssdp(cut, m);
      const bool start_line_whole = full->find('\n') < len;
      EXPECT_EQ(e, start_line_whole ? http_error::none : http_error::incomplete) << len;
      test_sink sink;
      proto::ssdp_facts(m, udp(), sink);
      for (const auto& f : sink.facts) {
        EXPECT_TRUE(all.has(f.field, f.value)) << len << ": " << f.field << "=" << f.value;
      }
    }
  }
}

TEST(Ssdp, NotSsdpAndOddDatagrams) {
  ssdp_message m;
  EXPECT_EQ(parse_ssdp(bytes_of(std::string_view("\x00\x01\x02\x03", 4)), m), http_error::not_http);
  EXPECT_EQ(m.kind, ssdp_kind::none);
  test_sink sink;
  proto::ssdp_facts(m, udp(), sink);
  EXPECT_TRUE(sink.facts.empty());
  // Bare LF line ends, lower-case names, no final empty line.
  ASSERT_EQ(parse_ssdp(bytes_of("NOTIFY * HTTP/1.1\nserver: Linux/4.9 UPnP/1.0 Roku/9.4\nnt: roku:ecp\n"), m),
            http_error::none);
  EXPECT_EQ(m.kind, ssdp_kind::notify);
  EXPECT_EQ(m.server, "Linux/4.9 UPnP/1.0 Roku/9.4");
  EXPECT_EQ(m.nt, "roku:ecp");
  // Another method: kept, kind other.
  ASSERT_EQ(parse_ssdp(bytes_of("SUBSCRIBE /evt HTTP/1.1\r\nSERVER: x/1\r\n\r\n"), m), http_error::none);
  EXPECT_EQ(m.kind, ssdp_kind::other);
  // USN without "uuid:" gives no upnp_uuid.
  ASSERT_EQ(parse_ssdp(bytes_of("NOTIFY * HTTP/1.1\r\nUSN: urn:x\r\n\r\n"), m), http_error::none);
  EXPECT_TRUE(m.uuid.empty());
  // A header line without colon is skipped; the rest kept.
  ASSERT_EQ(parse_ssdp(bytes_of("M-SEARCH * HTTP/1.1\r\ngarbage\r\nST: ssdp:all\r\n\r\n"), m),
            http_error::bad_header_line);
  EXPECT_EQ(m.st, "ssdp:all");
}

// ---------------------------------------------------------------------------
// Fixtures

TEST(Ssdp, NotifyFieldsAndFacts) {
  ssdp_message m;
  ASSERT_EQ(parse_ssdp(bytes_of(notify), m), http_error::none);
  EXPECT_EQ(m.kind, ssdp_kind::notify);
  EXPECT_EQ(m.host, "239.255.255.250:1900");
  EXPECT_EQ(m.nts, "ssdp:alive");
  EXPECT_EQ(m.cache_control, "max-age=100");
  EXPECT_EQ(m.uuid, "9f0865b3-f5da-4ad5-85b7-7404637fdf37");
  test_sink sink;
  proto::ssdp_facts(m, udp(), sink);
  EXPECT_TRUE(sink.has("server", "ipos/7.0 UPnP/1.0 TL-WDR3600/1.0")) << sink.dump();
  EXPECT_TRUE(sink.has("software", "ipos/7.0"));
  EXPECT_TRUE(sink.has("software", "TL-WDR3600/1.0"));
  EXPECT_FALSE(sink.has("software", "UPnP/1.0"));
  EXPECT_TRUE(sink.has("location", "http://192.168.1.1:1900/igd.xml"));
  EXPECT_TRUE(sink.has("usn", "uuid:9f0865b3-f5da-4ad5-85b7-7404637fdf37::urn:schemas-upnp-org:device:"
                              "InternetGatewayDevice:1"));
  EXPECT_TRUE(sink.has("upnp_uuid", "9f0865b3-f5da-4ad5-85b7-7404637fdf37"));
  EXPECT_TRUE(sink.has("ssdp_type", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"));
  EXPECT_EQ(sink.facts.size(), 7u);
  for (const auto& f : sink.facts) {
    EXPECT_EQ(f.source.str(), "ssdp");
  }
}

TEST(Ssdp, MsearchFacts) {
  ssdp_message m;
  ASSERT_EQ(parse_ssdp(bytes_of(msearch), m), http_error::none);
  EXPECT_EQ(m.kind, ssdp_kind::msearch);
  EXPECT_EQ(m.man, "\"ssdp:discover\"");
  test_sink sink;
  proto::ssdp_facts(m, udp(), sink);
  EXPECT_TRUE(sink.has("user_agent", "Google Chrome/99.0.4844.74 Mac OS X")) << sink.dump();
  EXPECT_TRUE(sink.has("software", "Chrome/99.0.4844.74"));
  EXPECT_TRUE(sink.has("ssdp_search", "urn:dial-multiscreen-org:service:dial:1"));
  EXPECT_FALSE(sink.has("ssdp_type", "urn:dial-multiscreen-org:service:dial:1"));
  // X-User-Agent stands in for USER-AGENT.
  ASSERT_EQ(parse_ssdp(bytes_of("M-SEARCH * HTTP/1.1\r\nX-User-Agent: redsonic\r\nST: ssdp:all\r\n\r\n"), m),
            http_error::none);
  test_sink x;
  proto::ssdp_facts(m, udp(), x);
  EXPECT_TRUE(x.has("user_agent", "redsonic")) << x.dump();
}

TEST(Ssdp, SearchResponseFacts) {
  ssdp_message m;
  ASSERT_EQ(parse_ssdp(bytes_of(response), m), http_error::none);
  EXPECT_EQ(m.kind, ssdp_kind::response);
  test_sink sink;
  proto::ssdp_facts(m, udp(), sink);
  EXPECT_TRUE(sink.has("server", "Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0")) << sink.dump();
  EXPECT_TRUE(sink.has("software", "Microsoft-Windows/10.0"));
  EXPECT_TRUE(sink.has("software", "UPnP-Device-Host/1.0"));
  EXPECT_TRUE(sink.has("ssdp_type", "upnp:rootdevice"));
  EXPECT_TRUE(sink.has("upnp_uuid", "9319395a-4d03-4750-bb1b-4663933ab812"));
  EXPECT_TRUE(sink.has("location",
                       "http://192.168.5.49:2869/upnphost/udhisapi.dll?content=uuid:9319395a-4d03-4750-bb1b-4663933ab812"));
}

TEST(Ssdp, WriteFuzzSeeds) {
  if (names_test::seed_dir() == nullptr) {
    GTEST_SKIP() << "TAPSENSE_WRITE_SEEDS not set";
  }
  names_test::write_seed("ssdp", notify);
  names_test::write_seed("ssdp", msearch);
  names_test::write_seed("ssdp", response);
}

// ---------------------------------------------------------------------------
// Agreement with tshark

TEST(Ssdp, AgreesWithTsharkOnSharedCaptures) {
  if (!std::filesystem::exists(names_test::shared_pcaps())) {
    GTEST_SKIP() << "shared pcaps absent";
  }
  if (!names_test::have_tshark()) {
    GTEST_SKIP() << "tshark absent";
  }
  using names_test::triple;
  std::size_t total_expected = 0;
  std::size_t total_found = 0;
  for (const char* name : {"ssdp/raw_packets.pcap", "ssdp/ssdp-m-search-ua.pcap", "dhcp/1kxun.pcap"}) {
    SCOPED_TRACE(name);
    const std::string path = names_test::shared_pcaps() + "/" + name;
    std::map<std::size_t, std::set<std::string>> ours;
    std::size_t datagrams = 0;
    for (const auto& p : names_test::decode_capture(path)) {
      if (p.rec.ip_proto != net::ipproto::udp || p.fragment ||
          (p.view.src_port != 1900 && p.view.dst_port != 1900)) {
        continue;
      }
      ssdp_message m;
      parse_ssdp(p.payload, m);
      names_test::recording_sink sink;
      sink.set_packet(p.view, p.frame);
      proto::ssdp_facts(m, p.view, sink);
      ++datagrams;
      ours[p.frame] = names_test::triples(sink.facts);
    }
    // tshark parses SERVER, USER-AGENT and LOCATION into fields and leaves
    // the other SSDP headers as raw request/response lines or "unknown
    // header" lines.
    const auto rows = names_test::tshark_rows(
        path, "ssdp && !(ip.flags.mf == 1) && !(ip.frag_offset > 0)",
        {"frame.number", "ip.src", "ipv6.src", "http.request.method", "http.response.code", "http.server",
         "http.user_agent", "http.location", "http.request.line", "http.response.line", "http.unknown_header"});
    names_test::agreement agr;
    agr.capture = name;
    std::set<std::string> have;
    for (const auto& r : rows) {
      const auto it = ours.find(std::stoul(r[0]));
      if (it != ours.end()) {
        have.insert(it->second.begin(), it->second.end());
      }
      const std::string src = !r[1].empty() ? r[1] : r[2];
      const std::string method = r[3];
      auto each = [&](std::size_t col, const char* field) {
        for (const auto& v : names_test::split(r[col], names_test::agg)) {
          if (!v.empty()) {
            agr.expect(triple(src, field, names_test::tshark_unescape(v)));
          }
        }
      };
      each(5, "server");
      each(6, "user_agent");
      each(7, "location");
      for (std::size_t col : {8u, 9u, 10u}) {
        for (const auto& raw : names_test::split(r[col], names_test::agg)) {
          std::string line = names_test::tshark_unescape(raw);
          while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
            line.pop_back();
          }
          const auto colon = line.find(':');
          if (colon == std::string::npos) {
            continue;
          }
          std::string key = line.substr(0, colon);
          for (auto& c : key) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          }
          std::string value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(" \t"));
          value.erase(value.find_last_not_of(" \t") + 1);
          if (value.empty()) {
            continue;
          }
          if (key == "USN") {
            agr.expect(triple(src, "usn", value));
          } else if (key == "NT" && method == "NOTIFY") {
            agr.expect(triple(src, "ssdp_type", value));
          } else if (key == "ST" && method == "M-SEARCH") {
            agr.expect(triple(src, "ssdp_search", value));
          } else if (key == "ST" && r[4] == "200") {
            agr.expect(triple(src, "ssdp_type", value));
          } else if (key == "X-USER-AGENT") {
            agr.expect(triple(src, "user_agent", value));
          }
        }
      }
    }
    agr.check(have);
    std::cout << agr.report("ssdp") << " (" << rows.size() << " tshark SSDP packets, " << datagrams
              << " datagrams parsed)\n";
    EXPECT_GT(agr.expected.size(), 0u) << "nothing compared in " << name;
    EXPECT_EQ(agr.missing.size(), 0u) << agr.report("ssdp");
    total_expected += agr.expected.size();
    total_found += agr.found.size();
  }
  ASSERT_GT(total_expected, 0u) << "no SSDP fact was compared with tshark";
  std::cout << "[ ssdp ] total " << total_found << "/" << total_expected << "\n";
}

}  // namespace

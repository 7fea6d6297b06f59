// Capture's per-packet choices (capture/dispatch.h, DPDK-free), on the
// project's own sample office (deploy/make-sample.py, so a fresh clone runs
// them): duplicate suppression checked against editcap -w on the same file,
// and which packets are snapshotted for the fingerprinter checked against
// tshark's reading of the same packets.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "capture/dispatch.h"
#include "common/ipc/ring.h"
#include "common/proto/facts.h"
#include "test_plumbing.h"

namespace {

using namespace tapsense;

// The sample office, made once per test binary run.
const std::string& sample_dir() {
  static const std::string dir = ::testing::TempDir() + "tapsense-dispatch-" + std::to_string(::getpid());
  return dir;
}
const std::string& sample() {
  static const std::string path = [] {
    const std::string& dir = sample_dir();
    std::filesystem::create_directories(dir);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(sample_dir(), ec);
    });
    const std::string p = dir + "/sample.pcap";
    const std::string cmd = "/usr/bin/python3 '" + std::string(TAPSENSE_SOURCE_DIR) + "/deploy/make-sample.py' '" + p +
                            "' --copies 1 >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 ? p : std::string();
  }();
  return path;
}

bool have(const char* tool) { return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0; }

// A classic pcap (microseconds, Ethernet) of frames at the given times.
void write_pcap(const std::string& path, const std::vector<std::pair<std::uint64_t, const std::vector<std::uint8_t>*>>& v) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const std::uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  std::fwrite(hdr, sizeof hdr, 1, f);
  for (const auto& [us, d] : v) {
    const std::uint32_t rh[4] = {static_cast<std::uint32_t>(us / 1'000'000), static_cast<std::uint32_t>(us % 1'000'000),
                                 static_cast<std::uint32_t>(d->size()), static_cast<std::uint32_t>(d->size())};
    std::fwrite(rh, sizeof rh, 1, f);
    std::fwrite(d->data(), 1, d->size(), f);
  }
  std::fclose(f);
}

struct dispatch_fixture : ::testing::Test {
  std::string base = "/tapsense.test" + std::to_string(::getpid()) + ".disp";
  std::optional<ipc::ring> agg;
  std::optional<ipc::ring> fp;
  std::vector<pcap_frame> frames;

  void SetUp() override {
    if (sample().empty()) GTEST_SKIP() << "deploy/make-sample.py did not run";
    frames = read_pcap(sample());
    ASSERT_GT(frames.size(), 400u);
    agg.emplace(ipc::ring::create(base + ".agg", 16u << 20, true));
    fp.emplace(ipc::ring::create(base + ".fp", 16u << 20, true));
  }
  void TearDown() override {
    ipc::segment::remove(base + ".agg");
    ipc::segment::remove(base + ".fp");
  }
  capture::dispatcher make(const capture::dispatch_options& o, bool snapshots) {
    return capture::dispatcher(o, {&*agg}, snapshots ? std::vector<ipc::ring*>{&*fp} : std::vector<ipc::ring*>{},
                               [] { return true; });
  }
  // Frames of `type` waiting in a ring, by their header.
  template <typename T>
  std::vector<T> read(ipc::ring& r, std::initializer_list<ipc::frame_type> types) {
    std::vector<T> out;
    ipc::ring_reader rd(r);
    while (auto f = rd.next()) {
      if (std::find(types.begin(), types.end(), f->type) == types.end() || f->payload.size() < sizeof(T)) continue;
      T x;
      std::memcpy(&x, f->payload.data(), sizeof x);
      out.push_back(x);
    }
    rd.release();
    return out;
  }
};

// Copies of each sample packet after it, by the gap to the copy before (us):
// within the window, exactly at it, just past it, and a train of copies
// 0.7 ms apart whose last is 2.1 ms after the original. Originals are 10 ms
// apart, so no copy meets another packet's.
const std::vector<std::vector<std::uint64_t>> copy_gaps = {{}, {400}, {1000}, {1001}, {700, 700, 700}};

// A busy SPAN session: each copy arrives after 500 other, all different
// packets (a copy 0.6 ms late at about 1 Mpps). The table must still hold
// the original; editcap -w, which compares with every packet in the
// window, finds the same copies.
TEST_F(dispatch_fixture, CopiesFoundBehindFiveHundredOtherPackets) {
  // IPv4 frames of the sample, each made unique by its IP identification.
  std::vector<const std::vector<std::uint8_t>*> v4;
  for (const auto& f : frames) {
    if (f.data.size() >= 34 && f.data[12] == 0x08 && f.data[13] == 0x00) v4.push_back(&f.data);
  }
  ASSERT_GT(v4.size(), 100u);
  std::vector<std::vector<std::uint8_t>> store;
  store.reserve(40 * 501);
  std::uint16_t id = 0;
  auto unique = [&](std::size_t j) -> const std::vector<std::uint8_t>* {
    store.push_back(*v4[j % v4.size()]);
    store.back()[18] = static_cast<std::uint8_t>(id >> 8);
    store.back()[19] = static_cast<std::uint8_t>(id & 0xff);
    ++id;
    return &store.back();
  };
  std::vector<std::pair<std::uint64_t, const std::vector<std::uint8_t>*>> seq;
  std::uint64_t us = 1'700'000'000'000'000ULL;
  for (std::size_t i = 0; i < 40; ++i) {
    const auto* original = unique(i);
    seq.emplace_back(us, original);
    for (std::size_t k = 0; k < 500; ++k) seq.emplace_back(us + 1 + k, unique(i * 500 + k + 7));
    seq.emplace_back(us + 600, original);
    us += 2'000;  // the next original after the window
  }
  capture::dispatch_options o;
  o.dedup_window_ns = 1'000'000;
  auto d = make(o, false);
  for (std::size_t i = 0; i < seq.size(); ++i) d.on_packet(*seq[i].second, 0, seq[i].first * 1000, 0, i + 1);
  d.publish();
  EXPECT_EQ(d.counters().duplicates.load(), 40u);
  if (!have("editcap")) GTEST_SKIP() << "editcap is not installed";
  const std::string in = sample() + ".busy.pcap";
  const std::string out = sample() + ".busy-dedup.pcap";
  write_pcap(in, seq);
  ASSERT_EQ(std::system(("editcap -F pcap -w 0.001 '" + in + "' '" + out + "' >/dev/null 2>&1").c_str()), 0);
  EXPECT_EQ(read_pcap(out).size(), seq.size() - 40) << "editcap -w 0.001 finds other copies";
  std::remove(in.c_str());
  std::remove(out.c_str());
}

TEST_F(dispatch_fixture, DuplicatesWithinTheWindowFromTheLatestCopyAsEditcap) {
  std::vector<std::pair<std::uint64_t, const std::vector<std::uint8_t>*>> seq;
  std::uint64_t expected_dups = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    std::uint64_t us = 1'700'000'000'000'000ULL + i * 10'000;
    seq.emplace_back(us, &frames[i].data);
    for (const auto g : copy_gaps[i % copy_gaps.size()]) {
      us += g;
      seq.emplace_back(us, &frames[i].data);
      expected_dups += g <= 1000 ? 1 : 0;  // the window runs from the latest copy
    }
  }
  capture::dispatch_options o;
  o.dedup_window_ns = 1'000'000;
  auto d = make(o, false);
  for (std::size_t i = 0; i < seq.size(); ++i) {
    d.on_packet(*seq[i].second, 0, seq[i].first * 1000, 0, i + 1);
  }
  d.publish();
  const auto dups = d.counters().duplicates.load();
  EXPECT_EQ(dups, expected_dups);
  // Every packet kept, and only those, reaches the aggregator.
  const auto recs = read<net::packet_record>(*agg, {ipc::frame_type::packet, ipc::frame_type::packet_payload});
  EXPECT_EQ(recs.size(), seq.size() - dups);

  // editcap -w on the same packets keeps the same number.
  if (!have("editcap")) GTEST_SKIP() << "editcap is not installed";
  const std::string in = sample() + ".dups.pcap";
  const std::string out = sample() + ".dedup.pcap";
  write_pcap(in, seq);
  ASSERT_EQ(std::system(("editcap -F pcap -w 0.001 '" + in + "' '" + out + "' >/dev/null 2>&1").c_str()), 0);
  EXPECT_EQ(read_pcap(out).size(), seq.size() - dups) << "editcap -w 0.001 keeps a different number";
  std::remove(in.c_str());
  std::remove(out.c_str());

  // Off: every copy goes on.
  capture::dispatch_options off;
  off.dedup = false;
  auto d2 = make(off, false);
  for (std::size_t i = 0; i < seq.size(); ++i) d2.on_packet(*seq[i].second, 0, seq[i].first * 1000, 0, i + 1);
  EXPECT_EQ(d2.counters().duplicates.load(), 0u);
}

TEST_F(dispatch_fixture, ACopyThatDiffersInOneByteIsNoDuplicate) {
  capture::dispatch_options o;
  auto d = make(o, false);
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].off.l3 >= frames[i].off.end) continue;
    auto changed = frames[i].data;
    // The last byte the comparison covers (the packet from its IP header,
    // up to 256 bytes, and its length): past the IP header when there is one.
    changed[std::min<std::size_t>(frames[i].off.end, frames[i].off.l3 + 256u) - 1] ^= 0x01;
    d.on_packet(frames[i].data, 0, (i + 1) * 10'000'000ULL, 0, ++n);
    d.on_packet(changed, 0, (i + 1) * 10'000'000ULL + 100'000, 0, ++n);
  }
  EXPECT_EQ(d.counters().duplicates.load(), 0u);
}

// Past the first 256 bytes too: two packets that differ only in their last
// byte (UDP without a checksum, or captured on the sender before checksum
// offload) are two packets, as editcap -w (MD5 of the whole packet) says.
TEST_F(dispatch_fixture, PacketsThatDifferOnlyInTheirLastByteAreNoDuplicates) {
  capture::dispatch_options o;
  auto d = make(o, false);
  std::vector<std::vector<std::uint8_t>> changed;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].off.l3 + 256u >= frames[i].off.end) continue;
    changed.push_back(frames[i].data);
    changed.back()[frames[i].off.end - 1] ^= 0x01;
    which.push_back(i);
  }
  ASSERT_GT(which.size(), 20u) << "the sample has too few long packets";
  std::vector<std::pair<std::uint64_t, const std::vector<std::uint8_t>*>> seq;
  for (std::size_t k = 0; k < which.size(); ++k) {
    const std::uint64_t us = 1'700'000'000'000'000ULL + k * 10'000;
    seq.emplace_back(us, &frames[which[k]].data);
    seq.emplace_back(us + 100, &changed[k]);
    seq.emplace_back(us + 200, &changed[k]);  // a real copy of the changed one
  }
  for (std::size_t i = 0; i < seq.size(); ++i) d.on_packet(*seq[i].second, 0, seq[i].first * 1000, 0, i + 1);
  EXPECT_EQ(d.counters().duplicates.load(), which.size());
  if (!have("editcap")) GTEST_SKIP() << "editcap is not installed";
  const std::string in = sample() + ".tail.pcap";
  const std::string out = sample() + ".tail-dedup.pcap";
  write_pcap(in, seq);
  ASSERT_EQ(std::system(("editcap -F pcap -w 0.001 '" + in + "' '" + out + "' >/dev/null 2>&1").c_str()), 0);
  EXPECT_EQ(read_pcap(out).size(), seq.size() - which.size()) << "editcap -w 0.001 keeps a different number";
  std::remove(in.c_str());
  std::remove(out.c_str());
}

// Which packets go to the fingerprinter, and why, against tshark.
TEST_F(dispatch_fixture, SnapshotSelectionMatchesTshark) {
  if (!have_tshark()) GTEST_SKIP() << "tshark is not installed";
  capture::dispatch_options o;
  o.payload_to_aggregator = false;
  o.payload_packets = 4;
  auto d = make(o, true);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    d.on_packet(frames[i].data, 0, (i + 1) * 10'000'000ULL, 0, frames[i].number);
  }
  d.publish();
  std::map<std::uint64_t, std::uint32_t> why;  // frame number -> reasons
  for (const auto& h : read<net::snapshot_header>(*fp, {ipc::frame_type::snapshot})) {
    EXPECT_TRUE(why.emplace(h.rec.seq, h.reason).second) << "frame " << h.rec.seq << " snapshotted twice";
  }
  EXPECT_EQ(d.counters().snapshots.load(), why.size());
  auto with = [&](std::uint32_t bit) {
    std::set<std::uint64_t> s;
    for (const auto& [n, r] : why) {
      if ((r & bit) != 0) s.insert(n);
    }
    return s;
  };
  auto frames_of = [&](const std::string& filter) {
    std::set<std::uint64_t> s;
    for (const auto& [n, cols] : tshark_fields(sample(), filter, {})) s.insert(n);
    return s;
  };
  // Every SYN and SYN+ACK (p0f), every ARP packet.
  EXPECT_GT(with(net::snapreason::tcp_syn).size(), 10u);
  EXPECT_GT(with(net::snapreason::arp).size(), 10u);
  EXPECT_EQ(with(net::snapreason::tcp_syn), frames_of("tcp.flags.syn == 1 && !icmp && !icmpv6"));
  EXPECT_EQ(with(net::snapreason::arp), frames_of("arp"));

  // The first packet of every unicast source MAC.
  std::set<std::uint64_t> first_of_mac;
  std::set<std::string> macs;
  for (const auto& [n, cols] : tshark_fields(sample(), "eth.src.ig == 0", {"eth.src"})) {
    if (cols[0] != "00:00:00:00:00:00" && macs.insert(cols[0]).second) first_of_mac.insert(n);
  }
  EXPECT_GT(first_of_mac.size(), 3u);
  EXPECT_EQ(with(net::snapreason::new_mac), first_of_mac);

  // TCP segments that begin an HTTP message.
  std::set<std::uint64_t> http_start;
  for (const auto& [n, cols] : tshark_fields(sample(), "tcp.len > 0", {"tcp.payload"})) {
    const std::string p = cols[0];
    for (const char* m : {"485454502f", "474554202f", "504f535420", "4845414420"}) {  // "HTTP/" "GET /" "POST " "HEAD "
      if (p.rfind(m, 0) == 0) http_start.insert(n);
    }
  }
  EXPECT_GT(http_start.size(), 0u);
  EXPECT_EQ(with(net::snapreason::message_start), http_start);

  // The first four payload packets of each TCP/UDP flow direction.
  std::set<std::uint64_t> tcp_udp;
  std::set<std::uint64_t> first_payload;
  std::map<std::string, unsigned> per_direction;
  for (const auto& [n, cols] :
       tshark_fields(sample(), "(tcp || udp) && !icmp && !icmpv6 && !(ip.flags.mf == 1) && !(ip.frag_offset > 0)",
                     {"ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "udp.srcport", "tcp.dstport",
                      "udp.dstport", "tcp.len", "udp.length"})) {
    tcp_udp.insert(n);
    const bool tcp = !cols[4].empty();
    const unsigned long payload = tcp ? std::stoul(cols[8]) : std::stoul(cols[9]) - 8;
    if (payload == 0) continue;
    const std::string dir = cols[0] + cols[1] + ">" + cols[2] + cols[3] + (tcp ? " tcp " : " udp ") +
                            (tcp ? cols[4] : cols[5]) + ">" + (tcp ? cols[6] : cols[7]);
    if (++per_direction[dir] <= 4) first_payload.insert(n);
  }
  std::set<std::uint64_t> got;
  for (const auto n : with(net::snapreason::flow_start)) {
    if (tcp_udp.count(n) != 0) got.insert(n);
  }
  EXPECT_GT(first_payload.size(), 20u);
  EXPECT_EQ(got, first_payload);
  // Nothing else: every snapshot has a reason a user can name.
  for (const auto& [n, r] : why) EXPECT_NE(r, 0u) << "frame " << n;
}

// The aggregator ends a connection silent past its protocol's idle time;
// the one that follows on the same addresses and ports is a new connection
// and must get its own first payload packets, or it keeps no application
// (a DHCP client renewing its lease every few minutes did, in the
// benchmark's captures). Idle by the aggregator's timeouts: UDP 120 s, TCP
// 3600 s by default; "more than" the timeout, as the aggregator expires.
TEST_F(dispatch_fixture, AFlowDirectionSilentPastItsIdleTimeStartsAgain) {
  const pcap_frame* udp = nullptr;
  const pcap_frame* tcp = nullptr;
  for (const auto& f : frames) {
    if (!f.decoded || f.rec.l4_payload == 0 || (f.rec.flags & net::pktflag::has_ports) == 0) continue;
    if (udp == nullptr && f.rec.ip_proto == net::ipproto::udp) udp = &f;
    if (tcp == nullptr && f.rec.ip_proto == net::ipproto::tcp && (f.rec.tcp_flags & net::tcpflag::syn) == 0) tcp = &f;
  }
  ASSERT_NE(udp, nullptr);
  ASSERT_NE(tcp, nullptr);
  capture::dispatch_options o;
  o.payload_to_aggregator = false;
  o.payload_packets = 4;
  auto d = make(o, true);
  constexpr std::uint64_t s = 1'000'000'000ULL;
  const std::uint64_t t0 = 1'700'000'000ULL * s;
  std::uint64_t seq = 0;
  // Packet times in seconds, and whether each packet starts its flow
  // direction (one of its first four payload packets).
  const std::vector<std::pair<std::uint64_t, bool>> udp_times = {
      {0, true}, {1, true}, {2, true}, {3, true}, {4, false},  // the first four, then no more
      {124, false},                                            // silent 120 s: the same connection
      {245, true}, {246, true}};                               // silent 121 s: a new one
  const std::vector<std::pair<std::uint64_t, bool>> tcp_times = {
      {10'000, true}, {10'001, true}, {10'002, true}, {10'003, true}, {10'004, false},
      {13'604, false},  // silent 3600 s
      {17'205, true}};  // silent 3601 s
  std::set<std::uint64_t> want;
  for (const auto& [t, starts] : udp_times) {
    d.on_packet(udp->data, 0, t0 + t * s, 0, ++seq);
    if (starts) want.insert(seq);
  }
  for (const auto& [t, starts] : tcp_times) {
    d.on_packet(tcp->data, 0, t0 + t * s, 0, ++seq);
    if (starts) want.insert(seq);
  }
  d.publish();
  std::set<std::uint64_t> got;
  for (const auto& h : read<net::snapshot_header>(*fp, {ipc::frame_type::snapshot})) {
    if ((h.reason & net::snapreason::flow_start) != 0) got.insert(h.rec.seq);
  }
  EXPECT_EQ(got, want);

  // The idle times are the configuration's, and a step back in time is no
  // idle time.
  TearDown();
  agg.emplace(ipc::ring::create(base + ".agg", 16u << 20, true));
  fp.emplace(ipc::ring::create(base + ".fp", 16u << 20, true));
  o.udp_idle_s = 30;
  auto e = make(o, true);
  seq = 0;
  want.clear();
  const std::vector<std::pair<std::uint64_t, bool>> times = {
      {1000, true}, {1001, true}, {1002, true}, {1003, true},
      {900, false},    // back in time: not a silence
      {1033, false},   // silent 30 s
      {1064, true}};   // silent 31 s
  for (const auto& [t, starts] : times) {
    e.on_packet(udp->data, 0, t0 + t * s, 0, ++seq);
    if (starts) want.insert(seq);
  }
  e.publish();
  got.clear();
  for (const auto& h : read<net::snapshot_header>(*fp, {ipc::frame_type::snapshot})) {
    if ((h.reason & net::snapreason::flow_start) != 0) got.insert(h.rec.seq);
  }
  EXPECT_EQ(got, want);
}

}  // namespace

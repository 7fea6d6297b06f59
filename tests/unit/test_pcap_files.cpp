// capture/pcap_files.cpp: the pcap_next_ex() capture defines notes each
// record's captured and wire lengths for the thread's sink (pcap_files.h),
// which is where a record cut to the snapshot length keeps its wire length
// (net_pcap gives an mbuf the captured length only).
//
// This binary links pcap_files.cpp, so its calls to pcap_open_offline(),
// pcap_next_ex() and pcap_close() are capture's, as net_pcap's are in
// tapsense-capture. The files are written here; the lengths each call hands
// out are libpcap's own (pcap_pkthdr), compared with what the sink noted.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "capture/pcap_files.h"
#include "test_capture_files.h"

using tapsense::capture::collect_record_lengths;
using tapsense::capture::record_lengths;

namespace {

struct record {
  std::uint32_t caplen;
  std::uint32_t len;
};

// A classic little-endian microsecond pcap (record_reader reads these).
std::vector<std::uint8_t> classic(const std::vector<record>& rs) {
  writer w;
  pcap_header(w);
  std::uint32_t sec = 1700000000;
  for (const auto& r : rs) pcap_record(w, sec++, 0, r.caplen, r.len);
  return w.data();
}

// A pcapng file (libpcap itself reads these): SHB, IDB, one EPB a record.
std::vector<std::uint8_t> pcapng(const std::vector<record>& rs) {
  writer w;
  ng_shb(w);
  ng_idb(w);
  std::uint64_t ts = 0;
  for (const auto& r : rs) ng_epb(w, 0, ts++, r.caplen, r.len);
  return w.data();
}

// Reads every record as net_pcap does, with `sink` set; returns the headers
// pcap_next_ex() handed out.
std::vector<record> read_all(const std::string& path, record_lengths* sink) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  EXPECT_NE(p, nullptr) << err;
  std::vector<record> out;
  if (p == nullptr) return out;
  collect_record_lengths(sink);
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &h, &data) == 1) out.push_back({h->caplen, h->len});
  collect_record_lengths(nullptr);
  pcap_close(p);
  return out;
}

const std::vector<record> cut = {{60, 60}, {96, 1514}, {96, 96}, {40, 9000}, {96, 200}};

// Both readers: a classic file comes from capture's record_reader, pcapng
// from libpcap; the sink notes what pcap_next_ex() handed out either way.
TEST(RecordLengths, EveryRecordInOrderClassicAndPcapng) {
  for (const bool ng : {false, true}) {
    SCOPED_TRACE(ng ? "pcapng" : "classic pcap");
    temp_dir t;
    const std::string file = t.write("x.pcap", ng ? pcapng(cut) : classic(cut));
    record_lengths sink;
    const auto got = read_all(file, &sink);
    ASSERT_EQ(got.size(), cut.size());
    ASSERT_EQ(sink.n, cut.size());
    for (std::size_t i = 0; i < cut.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(got[i].caplen, cut[i].caplen);
      EXPECT_EQ(got[i].len, cut[i].len);
      EXPECT_EQ(sink.caplen[i], cut[i].caplen);
      EXPECT_EQ(sink.len[i], cut[i].len);
      EXPECT_EQ(sink.wire_len(i, cut[i].caplen), cut[i].len);
    }
  }
}

TEST(RecordLengths, NothingNotedWithoutASink) {
  temp_dir t;
  const std::string file = t.write("x.pcap", classic(cut));
  record_lengths sink;
  collect_record_lengths(&sink);
  collect_record_lengths(nullptr);  // set, then cleared: the reads below are not noted
  EXPECT_EQ(read_all(file, nullptr).size(), cut.size());
  EXPECT_EQ(sink.n, 0u);
}

TEST(RecordLengths, SettingASinkEmptiesIt) {
  temp_dir t;
  const std::string file = t.write("x.pcap", classic(cut));
  record_lengths sink;
  read_all(file, &sink);
  ASSERT_EQ(sink.n, cut.size());
  collect_record_lengths(&sink);
  EXPECT_EQ(sink.n, 0u);
  collect_record_lengths(nullptr);
}

TEST(RecordLengths, AnotherThreadsReadsAreNotNoted) {
  temp_dir t;
  const std::string file = t.write("x.pcap", classic(cut));
  record_lengths mine;
  collect_record_lengths(&mine);
  std::size_t read_there = 0;
  std::thread([&] { read_there = read_all(file, nullptr).size(); }).join();
  collect_record_lengths(nullptr);
  EXPECT_EQ(read_there, cut.size());
  EXPECT_EQ(mine.n, 0u);
}

TEST(RecordLengths, AFullSinkKeepsTheFirstOnes) {
  std::vector<record> many(record_lengths::capacity + 10, record{20, 20});
  many.front() = {20, 64};
  temp_dir t;
  const std::string file = t.write("x.pcap", classic(many));
  record_lengths sink;
  EXPECT_EQ(read_all(file, &sink).size(), many.size());
  EXPECT_EQ(sink.n, record_lengths::capacity);
  EXPECT_EQ(sink.wire_len(0, 20), 64u);
  EXPECT_EQ(sink.wire_len(record_lengths::capacity, 20), 0u);  // beyond what it holds
}

// An mbuf's pkt_len is net_pcap's 16-bit copy of the captured length: an
// entry that does not match it describes another record, and gives nothing.
TEST(RecordLengths, WireLengthOnlyForTheMatchingRecord) {
  record_lengths s;
  s.caplen[0] = 96;
  s.len[0] = 1514;
  s.caplen[1] = 70000;  // a jumbo record: pkt_len holds 70000 cut to 16 bits
  s.len[1] = 70000;
  s.n = 2;
  EXPECT_EQ(s.wire_len(0, 96), 1514u);
  EXPECT_EQ(s.wire_len(0, 95), 0u);
  EXPECT_EQ(s.wire_len(1, 70000 & 0xffff), 70000u);
  EXPECT_EQ(s.wire_len(2, 96), 0u);
}

}  // namespace

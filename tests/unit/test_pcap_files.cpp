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
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "capture/pcap_files.h"

namespace fs = std::filesystem;
using tapsense::capture::collect_record_lengths;
using tapsense::capture::record_lengths;

namespace {

struct bytes {
  std::vector<std::uint8_t> b;
  bytes& u16(std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v));
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    return *this;
  }
  bytes& u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v)).u16(static_cast<std::uint16_t>(v >> 16)); }
  bytes& fill(std::size_t n) {
    b.insert(b.end(), n, 0x5a);
    return *this;
  }
};

struct record {
  std::uint32_t caplen;
  std::uint32_t len;
};

// A classic little-endian microsecond pcap (record_reader reads these).
std::vector<std::uint8_t> classic(const std::vector<record>& rs) {
  bytes w;
  w.u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1);
  std::uint32_t sec = 1700000000;
  for (const auto& r : rs) w.u32(sec++).u32(0).u32(r.caplen).u32(r.len).fill(r.caplen);
  return w.b;
}

// A pcapng file (libpcap itself reads these): SHB, IDB, one EPB a record.
std::vector<std::uint8_t> pcapng(const std::vector<record>& rs) {
  bytes w;
  w.u32(0x0a0d0d0a).u32(28).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).u32(28);
  w.u32(1).u32(20).u16(1).u16(0).u32(0).u32(20);
  std::uint32_t ts = 0;
  for (const auto& r : rs) {
    const std::uint32_t pad = (4 - r.caplen % 4) % 4;
    const std::uint32_t total = 32 + r.caplen + pad;
    w.u32(6).u32(total).u32(0).u32(0x00060000).u32(ts++).u32(r.caplen).u32(r.len).fill(r.caplen + pad).u32(total);
  }
  return w.b;
}

class temp_file {
 public:
  explicit temp_file(const std::vector<std::uint8_t>& data) {
    path_ = (fs::temp_directory_path() / ("tapsense-pcap-files-" + std::to_string(::getpid()) + "-" +
                                          std::to_string(counter_++)))
                .string();
    FILE* f = std::fopen(path_.c_str(), "wb");
    if (f != nullptr) {
      std::fwrite(data.data(), 1, data.size(), f);
      std::fclose(f);
    }
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  ~temp_file() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

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
    temp_file f(ng ? pcapng(cut) : classic(cut));
    record_lengths sink;
    const auto got = read_all(f.path(), &sink);
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
  temp_file f(classic(cut));
  record_lengths sink;
  collect_record_lengths(&sink);
  collect_record_lengths(nullptr);  // set, then cleared: the reads below are not noted
  EXPECT_EQ(read_all(f.path(), nullptr).size(), cut.size());
  EXPECT_EQ(sink.n, 0u);
}

TEST(RecordLengths, SettingASinkEmptiesIt) {
  temp_file f(classic(cut));
  record_lengths sink;
  read_all(f.path(), &sink);
  ASSERT_EQ(sink.n, cut.size());
  collect_record_lengths(&sink);
  EXPECT_EQ(sink.n, 0u);
  collect_record_lengths(nullptr);
}

TEST(RecordLengths, AnotherThreadsReadsAreNotNoted) {
  temp_file f(classic(cut));
  record_lengths mine;
  collect_record_lengths(&mine);
  std::size_t read_there = 0;
  std::thread([&] { read_there = read_all(f.path(), nullptr).size(); }).join();
  collect_record_lengths(nullptr);
  EXPECT_EQ(read_there, cut.size());
  EXPECT_EQ(mine.n, 0u);
}

TEST(RecordLengths, AFullSinkKeepsTheFirstOnes) {
  std::vector<record> many(record_lengths::capacity + 10, record{20, 20});
  many.front() = {20, 64};
  temp_file f(classic(many));
  record_lengths sink;
  EXPECT_EQ(read_all(f.path(), &sink).size(), many.size());
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

// common/pcapfile: scan() of capture files.
//
// Negative cases first, on files the test writes itself; then every capture in
// ../shared/pcaps, checked against tshark as the independent reader.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/pcapfile/handoff.h"
#include "common/pcapfile/records.h"
#include "common/pcapfile/scan.h"
#include "test_capture_files.h"

namespace fs = std::filesystem;
using tapsense::pcapfile::length_fix;
using tapsense::pcapfile::record_reader;
using tapsense::pcapfile::scan;
using tapsense::pcapfile::scan_bytes;
using tapsense::pcapfile::scan_error;
using tapsense::pcapfile::scan_error_name;
using tapsense::pcapfile::scan_result;

namespace {

std::vector<std::uint8_t> cut(std::vector<std::uint8_t> v, std::size_t n) {
  v.resize(n);
  return v;
}

// A small valid pcap: 3 records, the second cut short to 60 of 64 bytes.
std::vector<std::uint8_t> small_pcap(bool big, std::uint32_t magic) {
  writer w(big);
  pcap_header(w, magic);
  const std::uint32_t frac1 = magic == magic_ns ? 123456789 : 123456;
  pcap_record(w, 1700000000, frac1, 42, 42);
  pcap_record(w, 1700000001, 0, 60, 64);
  pcap_record(w, 1700000002, 999, 100, 100);
  return w.data();
}

// ---- negative cases ----

TEST(PcapfileScan, MissingFile) {
  const scan_result r = scan("/nonexistent/dir/x.pcap");
  EXPECT_EQ(r.error, scan_error::not_found);
  EXPECT_EQ(r.message.rfind("/nonexistent/dir/x.pcap: ", 0), 0u) << r.message;
  EXPECT_EQ(r.packets, 0u);
}

TEST(PcapfileScan, Directory) {
  temp_dir t;
  const scan_result r = scan(t.path().string());
  EXPECT_EQ(r.error, scan_error::unreadable);
  EXPECT_NE(r.message.find("directory"), std::string::npos) << r.message;
}

TEST(PcapfileScan, PermissionDenied) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads files regardless of their mode";
  }
  temp_dir t;
  const std::string p = t.write("secret.pcap", small_pcap(false, magic_us));
  ASSERT_EQ(::chmod(p.c_str(), 0), 0);
  EXPECT_EQ(scan(p).error, scan_error::permission_denied);
}

TEST(PcapfileScan, EmptyFile) {
  temp_dir t;
  const scan_result r = scan(t.write("empty.pcap", {}));
  EXPECT_EQ(r.error, scan_error::empty);
  EXPECT_NE(r.message.find("empty.pcap: "), std::string::npos);
}

TEST(PcapfileScan, RandomBytes) {
  std::vector<std::uint8_t> junk(4096);
  std::uint32_t x = 2463534242u;
  for (auto& b : junk) {  // xorshift32: fixed, so the test is reproducible
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::uint8_t>(x);
  }
  temp_dir t;
  const scan_result r = scan(t.write("junk.bin", junk));
  EXPECT_EQ(r.error, scan_error::not_a_capture);
  EXPECT_EQ(r.message, t.path().string() + "/junk.bin: not a pcap or pcapng file");
}

TEST(PcapfileScan, TextFile) {
  const std::string text = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  temp_dir t;
  EXPECT_EQ(scan(t.write("req.txt", {text.begin(), text.end()})).error,
            scan_error::not_a_capture);
  // Starts with the pcapng SHB type (\n\r\r\n) but has no byte-order magic.
  const std::string crlf = "\n\r\r\nsome text that is not a capture\n";
  EXPECT_EQ(scan(t.write("crlf.txt", {crlf.begin(), crlf.end()})).error,
            scan_error::not_a_capture);
  // Shorter than any magic.
  EXPECT_EQ(scan_bytes(std::vector<std::uint8_t>{0xa1, 0xb2}, "x").error,
            scan_error::not_a_capture);
}

TEST(PcapfileScan, GlobalHeaderOnlyIsZeroPackets) {
  writer w;
  pcap_header(w, magic_us, 1514, 1);
  temp_dir t;
  const scan_result r = scan(t.write("hdr.pcap", w.data()));
  EXPECT_EQ(r.error, scan_error::none) << r.message;
  EXPECT_TRUE(r.message.empty());
  EXPECT_EQ(r.format, "pcap");
  EXPECT_EQ(r.packets, 0u);
  EXPECT_EQ(r.snaplen, 1514u);
  EXPECT_EQ(r.linktypes, std::vector<std::uint32_t>{1});
  EXPECT_EQ(r.first_ts_ns, 0u);
}

TEST(PcapfileScan, GlobalHeaderCutShort) {
  writer w;
  pcap_header(w);
  const scan_result r = scan_bytes(cut(w.data(), 20), "h.pcap");
  EXPECT_EQ(r.error, scan_error::truncated);
  EXPECT_EQ(r.packets, 0u);
}

TEST(PcapfileScan, HugeCaplenIsCorrupt) {
  writer w;
  pcap_header(w);
  pcap_record(w, 1, 0, 60, 60);
  w.u32(2).u32(0).u32(300000).u32(300000).fill(64);  // claims 300 kB, libpcap's cap is 256 KiB
  const scan_result r = scan_bytes(w.data(), "huge.pcap");
  EXPECT_EQ(r.error, scan_error::not_a_capture);
  EXPECT_EQ(r.packets, 1u);  // libpcap delivers the record before it, then fails
  EXPECT_EQ(r.stop_offset, 24u + 16 + 60);
  EXPECT_NE(r.message.find("300000"), std::string::npos) << r.message;
}

// The one verdict the supervisor and capture judge a file by: a cut-off
// file runs, a file of a link layer the decoder does not read and a
// corrupt one do not, each with one line naming the file.
TEST(PcapfileScan, RefusalNamesWhatCannotBeRun) {
  temp_dir t;
  EXPECT_EQ(refusal(scan(t.write("ok.pcap", small_pcap(false, magic_us)))), "");
  const auto full = small_pcap(false, magic_us);
  EXPECT_EQ(refusal(scan_bytes(cut(full, full.size() - 5), "cut.pcap")), "") << "a truncated file still runs";
  writer w;
  pcap_header(w, magic_us, 65535, 127);  // IEEE 802.11 with radiotap
  pcap_record(w, 1, 0, 4, 4);
  const auto radio = t.write("radio.pcap", w.data());
  const auto why = refusal(scan(radio));
  EXPECT_EQ(why.rfind(radio + ": link type 127 (IEEE802_11_RADIO", 0), 0u) << why;
  EXPECT_NE(why.find("is not supported"), std::string::npos) << why;
  const auto text = t.write("notes.pcap", std::vector<std::uint8_t>(64, 'x'));
  EXPECT_EQ(refusal(scan(text)).rfind(text + ": ", 0), 0u) << refusal(scan(text));
}

TEST(PcapfileScan, FileCutMidRecordCountsCompleteRecords) {
  const auto full = small_pcap(false, magic_us);
  // Cut inside the third record's body, then inside its header.
  const std::size_t third = 24 + (16 + 42) + (16 + 60);
  for (const std::size_t at : {third + 16 + 50, third + 7}) {
    const scan_result r = scan_bytes(cut(full, at), "cut.pcap");
    EXPECT_EQ(r.error, scan_error::truncated) << at;
    EXPECT_EQ(r.packets, 2u) << at;  // pcap_next() returns NULL on the partial record
    EXPECT_EQ(r.stop_offset, third);
    EXPECT_EQ(r.captured_bytes, 42u + 60);
    EXPECT_EQ(r.wire_bytes, 42u + 64);
  }
  // Cut exactly at a record boundary: a complete, shorter file.
  const scan_result r = scan_bytes(cut(full, third), "cut.pcap");
  EXPECT_EQ(r.error, scan_error::none);
  EXPECT_EQ(r.packets, 2u);
}

TEST(PcapfileScan, PcapngBadBlockLengths) {
  for (const std::uint32_t bad_len : {13u, 8u, 0u}) {
    writer w;
    ng_shb(w);
    ng_idb(w);
    ng_epb(w, 0, 1, 40, 40);
    w.u32(6).u32(bad_len).fill(40);
    const scan_result r = scan_bytes(w.data(), "bad.pcapng");
    EXPECT_EQ(r.error, scan_error::not_a_capture) << bad_len << ": " << r.message;
    EXPECT_EQ(r.packets, 1u);
  }
  // Trailing length disagrees with the leading one.
  writer w;
  ng_shb(w);
  ng_idb(w);
  w.u32(6).u32(32).u32(0).u32(0).u32(1).u32(0).u32(0).u32(28);
  const scan_result r = scan_bytes(w.data(), "trailer.pcapng");
  EXPECT_EQ(r.error, scan_error::not_a_capture) << r.message;
  EXPECT_EQ(r.packets, 0u);
}

TEST(PcapfileScan, PcapngCutMidBlock) {
  writer w;
  ng_shb(w);
  ng_idb(w);
  ng_epb(w, 0, 1, 40, 40);
  ng_epb(w, 0, 2, 40, 40);
  const scan_result r = scan_bytes(cut(w.data(), w.data().size() - 10), "cut.pcapng");
  EXPECT_EQ(r.error, scan_error::truncated);
  EXPECT_EQ(r.packets, 1u);
}

TEST(PcapfileScan, PcapngWithoutInterfaceIsRefusedLikeLibpcap) {
  writer w;
  ng_shb(w);
  const scan_result r = scan_bytes(w.data(), "noidb.pcapng");
  EXPECT_EQ(r.error, scan_error::unsupported);
  EXPECT_EQ(r.format, "pcapng");
  writer p;
  ng_shb(p);
  ng_epb(p, 0, 1, 40, 40);
  EXPECT_EQ(scan_bytes(p.data(), "early.pcapng").error, scan_error::not_a_capture);
}

TEST(PcapfileScan, PcapngSecondLinktypeStopsLikeLibpcap) {
  writer w;
  ng_shb(w);
  ng_idb(w, 1);
  ng_epb(w, 0, 1, 40, 40);
  ng_idb(w, 101);  // raw IP: libpcap 1.10 refuses a second link type
  ng_epb(w, 1, 2, 40, 40);
  const scan_result r = scan_bytes(w.data(), "mixed.pcapng");
  EXPECT_EQ(r.error, scan_error::unsupported_linktype) << r.message;
  EXPECT_EQ(r.packets, 1u);
  EXPECT_EQ(r.linktypes, std::vector<std::uint32_t>{1});
}

TEST(PcapfileScan, PcapngPacketOnUnknownInterface) {
  writer w;
  ng_shb(w);
  ng_idb(w);
  ng_epb(w, 0, 1, 40, 40);
  ng_epb(w, 3, 2, 40, 40);
  const scan_result r = scan_bytes(w.data(), "ifid.pcapng");
  EXPECT_EQ(r.error, scan_error::not_a_capture);
  EXPECT_EQ(r.packets, 1u);
}

TEST(PcapfileScan, ErrorNames) {
  EXPECT_STREQ(scan_error_name(scan_error::none), "none");
  EXPECT_STREQ(scan_error_name(scan_error::not_found), "not_found");
  EXPECT_STREQ(scan_error_name(scan_error::permission_denied), "permission_denied");
  EXPECT_STREQ(scan_error_name(scan_error::unreadable), "unreadable");
  EXPECT_STREQ(scan_error_name(scan_error::empty), "empty");
  EXPECT_STREQ(scan_error_name(scan_error::not_a_capture), "not_a_capture");
  EXPECT_STREQ(scan_error_name(scan_error::unsupported_linktype), "unsupported_linktype");
  EXPECT_STREQ(scan_error_name(scan_error::truncated), "truncated");
  EXPECT_STREQ(scan_error_name(scan_error::unsupported), "unsupported");
}

// ---- positive cases ----

TEST(PcapfileScan, ClassicPcapAllByteOrdersAndResolutions) {
  struct variant {
    bool big;
    std::uint32_t magic;
    const char* format;
  };
  for (const variant v : {variant{false, magic_us, "pcap"}, variant{true, magic_us, "pcap"},
                          variant{false, magic_ns, "pcap-ns"}, variant{true, magic_ns, "pcap-ns"}}) {
    SCOPED_TRACE(std::string(v.format) + (v.big ? " big-endian" : " little-endian"));
    temp_dir t;
    const scan_result r = scan(t.write("x.pcap", small_pcap(v.big, v.magic)), {}, true);
    ASSERT_EQ(r.error, scan_error::none) << r.message;
    EXPECT_EQ(r.format, v.format);
    EXPECT_EQ(r.packets, 3u);
    EXPECT_EQ(r.captured_bytes, 42u + 60 + 100);
    EXPECT_EQ(r.wire_bytes, 42u + 64 + 100);
    EXPECT_EQ(r.snaplen, 65535u);
    const std::uint64_t first = v.magic == magic_ns ? 1700000000123456789u : 1700000000123456000u;
    EXPECT_EQ(r.first_ts_ns, first);
    EXPECT_EQ(r.last_ts_ns, 1700000002000000000u + (v.magic == magic_ns ? 999u : 999000u));
    ASSERT_EQ(r.fixes.size(), 1u);
    EXPECT_EQ(r.fixes[0].index, 1u);
    EXPECT_EQ(r.fixes[0].caplen, 60u);
    EXPECT_EQ(r.fixes[0].orig_len, 64u);
    EXPECT_EQ(r.fixes[0].ts_us, 1700000001000000u);
    EXPECT_EQ(r.stop_offset, small_pcap(v.big, v.magic).size());
  }
}

TEST(PcapfileScan, RecordLongerThanSnaplenIsDeliveredCut) {
  writer w;
  pcap_header(w, magic_us, 100);
  pcap_record(w, 5, 0, 150, 150);  // libpcap reads 100 bytes and discards 50
  pcap_record(w, 6, 0, 80, 80);
  const scan_result r = scan_bytes(w.data(), "snap.pcap", true);
  ASSERT_EQ(r.error, scan_error::none) << r.message;
  EXPECT_EQ(r.packets, 2u);
  EXPECT_EQ(r.captured_bytes, 180u);
  ASSERT_EQ(r.fixes.size(), 1u);
  EXPECT_EQ(r.fixes[0].caplen, 100u);
  EXPECT_EQ(r.fixes[0].orig_len, 150u);
}

// Nothing in the sensor asks for the fixes: a scan lists them only when asked,
// and counts the wire bytes either way.
TEST(PcapfileScan, FixesOnlyWhenAsked) {
  writer w;
  pcap_header(w, magic_us, 100);
  pcap_record(w, 5, 0, 150, 150);  // cut to 100
  pcap_record(w, 6, 0, 80, 80);
  const scan_result plain = scan_bytes(w.data(), "snap.pcap");
  ASSERT_EQ(plain.error, scan_error::none) << plain.message;
  EXPECT_TRUE(plain.fixes.empty());
  EXPECT_EQ(plain.wire_bytes, 230u);
  EXPECT_EQ(scan_bytes(w.data(), "snap.pcap", true).fixes.size(), 1u);
}

// The scan counts where each classic record starts rather than asking the
// stream; a record libpcap cut to the snapshot length (it skips the rest)
// must not put the count off: the bad record is placed at its first byte.
TEST(PcapfileScan, CorruptRecordAfterOnesCutToTheSnapshotIsPlacedExactly) {
  writer w;
  pcap_header(w, magic_us, 100);
  pcap_record(w, 5, 0, 150, 150);  // cut to 100, 50 skipped
  pcap_record(w, 6, 0, 100, 100);  // exactly the snapshot length
  pcap_record(w, 7, 0, 80, 80);
  w.u32(8).u32(0).u32(300000).u32(300000).fill(64);
  const scan_result r = scan_bytes(w.data(), "snapbad.pcap");
  EXPECT_EQ(r.error, scan_error::not_a_capture);
  EXPECT_EQ(r.packets, 3u);
  EXPECT_EQ(r.stop_offset, 24u + (16 + 150) + (16 + 100) + (16 + 80));
  EXPECT_NE(r.message.find("at byte 402,"), std::string::npos) << r.message;
}

TEST(PcapfileScan, PcapngSectionsResolutionsAndBlockTypes) {
  for (const bool big : {false, true}) {
    SCOPED_TRACE(big ? "big-endian" : "little-endian");
    writer w(big);
    ng_shb(w);
    writer nrb(big);  // name resolution block: skipped
    nrb.u16(0).u16(0);
    ng_block(w, 4, nrb);
    ng_idb(w, 1, 262144, 9);           // nanoseconds
    ng_idb(w, 1, 262144, 0x80 | 20, 10);  // 2^-20 s, plus 10 s offset
    ng_epb(w, 0, 1700000000123456789u, 60, 1514);
    ng_epb(w, 1, (std::uint64_t{1700000000} << 20) | (1u << 19), 70, 70);  // +0.5 s
    ng_pb(w, 1, std::uint64_t{1700000001} << 20, 30, 30);
    ng_spb(w, 40);  // no time stamp: interface 0, offset 0 -> 0
    writer custom(big);
    custom.u32(32473).fill(8);
    ng_block(w, 0x00000BAD, custom);
    ng_shb(w, 2);  // second section, version 1.2: its own interfaces
    ng_idb(w, 1, 262144, 3);  // milliseconds
    ng_epb(w, 0, 1700000005250u, 50, 60);
    const scan_result r = scan_bytes(w.data(), "multi.pcapng", true);
    ASSERT_EQ(r.error, scan_error::none) << r.message;
    EXPECT_EQ(r.format, "pcapng");
    EXPECT_EQ(r.packets, 5u);
    EXPECT_EQ(r.captured_bytes, 60u + 70 + 30 + 40 + 50);
    EXPECT_EQ(r.wire_bytes, 1514u + 70 + 30 + 40 + 60);
    EXPECT_EQ(r.linktypes, std::vector<std::uint32_t>{1});
    EXPECT_EQ(r.snaplen, 262144u);
    EXPECT_EQ(r.first_ts_ns, 1700000000123456789u);
    EXPECT_EQ(r.last_ts_ns, 1700000005250000000u);
    ASSERT_EQ(r.fixes.size(), 2u);
    EXPECT_EQ(r.fixes[0].index, 0u);
    EXPECT_EQ(r.fixes[0].orig_len, 1514u);
    EXPECT_EQ(r.fixes[0].ts_us, 1700000000123456u);
    EXPECT_EQ(r.fixes[1].index, 4u);
    EXPECT_EQ(r.fixes[1].caplen, 50u);
    EXPECT_EQ(r.fixes[1].ts_us, 1700000005250000u);
  }
}

TEST(PcapfileScan, PcapngBinaryResolutionAndOffset) {
  writer w;
  ng_shb(w);
  ng_idb(w, 1, 0, 0x80 | 20, 10);
  ng_epb(w, 0, (std::uint64_t{1700000000} << 20) | (1u << 19), 70, 80);
  const scan_result r = scan_bytes(w.data(), "bin.pcapng", true);
  ASSERT_EQ(r.error, scan_error::none) << r.message;
  EXPECT_EQ(r.first_ts_ns, 1700000010500000000u);
  ASSERT_EQ(r.fixes.size(), 1u);
  EXPECT_EQ(r.fixes[0].ts_us, 1700000010500000u);
  EXPECT_EQ(r.snaplen, 0u);  // as written; libpcap reads 0 as "the maximum"
}

// ---- one scan handed on (supervisor -> capture) ----

TEST(PcapfileHandoff, RoundTripKeepsEveryField) {
  temp_dir t;
  const std::string a = t.write("a.pcap", small_pcap(true, magic_ns));
  writer w;
  pcap_header(w);
  pcap_record(w, 1, 0, 60, 60);
  pcap_record(w, 2, 0, 60, 80);
  const std::string b = t.write("b.pcap", cut(w.data(), w.data().size() - 5));  // truncated
  const std::vector<scan_result> saved = {scan(a, {}, true), scan(b, {}, true)};
  ASSERT_EQ(saved[1].error, scan_error::truncated);
  const std::string file = (t.path() / "scans.bin").string();
  std::string why;
  ASSERT_TRUE(tapsense::pcapfile::save_scans(file, saved, why)) << why;
  const auto loaded = tapsense::pcapfile::load_scans(file, why);
  ASSERT_TRUE(loaded) << why;
  ASSERT_EQ(loaded->size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const scan_result& x = saved[i];
    const scan_result& y = (*loaded)[i];
    EXPECT_EQ(y.path, x.path);
    EXPECT_EQ(y.identity, x.identity);
    EXPECT_EQ(y.error, x.error);
    EXPECT_EQ(y.message, x.message);
    EXPECT_EQ(y.format, x.format);
    EXPECT_EQ(y.packets, x.packets);
    EXPECT_EQ(y.captured_bytes, x.captured_bytes);
    EXPECT_EQ(y.wire_bytes, x.wire_bytes);
    EXPECT_EQ(y.first_ts_ns, x.first_ts_ns);
    EXPECT_EQ(y.last_ts_ns, x.last_ts_ns);
    EXPECT_EQ(y.snaplen, x.snaplen);
    EXPECT_EQ(y.stop_offset, x.stop_offset);
    EXPECT_EQ(y.linktypes, x.linktypes);
    ASSERT_EQ(y.fixes.size(), x.fixes.size());
    for (std::size_t k = 0; k < x.fixes.size(); ++k) {
      EXPECT_EQ(y.fixes[k].index, x.fixes[k].index);
      EXPECT_EQ(y.fixes[k].caplen, x.fixes[k].caplen);
      EXPECT_EQ(y.fixes[k].orig_len, x.fixes[k].orig_len);
      EXPECT_EQ(y.fixes[k].ts_us, x.fixes[k].ts_us);
    }
  }
  EXPECT_EQ((*loaded)[0].packets, 3u);
  EXPECT_EQ((*loaded)[1].packets, 1u);
  // The file is unchanged: its saved scan is current.
  const auto found = tapsense::pcapfile::find_current(*loaded, a);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->packets, 3u);
  EXPECT_FALSE(tapsense::pcapfile::find_current(*loaded, (t.path() / "other.pcap").string()));
}

TEST(PcapfileHandoff, ChangedFileIsNotTrusted) {
  temp_dir t;
  const std::string a = t.write("a.pcap", small_pcap(false, magic_us));
  const std::vector<scan_result> saved = {scan(a)};
  // Grown by one record since the scan: the saved count would stop capture early.
  std::vector<std::uint8_t> grown = small_pcap(false, magic_us);
  writer extra;
  pcap_record(extra, 1700000003, 0, 50, 50);
  grown.insert(grown.end(), extra.data().begin(), extra.data().end());
  t.write("a.pcap", grown);
  EXPECT_FALSE(tapsense::pcapfile::find_current(saved, a));
  EXPECT_EQ(scan(a).packets, 4u);
}

TEST(PcapfileHandoff, DamagedSaveIsRefusedWhole) {
  temp_dir t;
  const std::string a = t.write("a.pcap", small_pcap(false, magic_us));
  const std::string file = (t.path() / "scans.bin").string();
  std::string why;
  ASSERT_TRUE(tapsense::pcapfile::save_scans(file, {scan(a)}, why)) << why;
  std::vector<std::uint8_t> bytes;
  {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "rb"), std::fclose);
    ASSERT_TRUE(f);
    int c = 0;
    while ((c = std::fgetc(f.get())) != EOF) bytes.push_back(static_cast<std::uint8_t>(c));
  }
  for (const std::size_t n : {bytes.size() - 1, bytes.size() / 2, std::size_t{10}, std::size_t{3}}) {
    const std::string p = t.write("short.bin", cut(bytes, n));
    EXPECT_FALSE(tapsense::pcapfile::load_scans(p, why)) << n;
    EXPECT_FALSE(why.empty());
  }
  EXPECT_FALSE(tapsense::pcapfile::load_scans((t.path() / "none.bin").string(), why));
  EXPECT_FALSE(tapsense::pcapfile::load_scans(a, why));  // a capture, not a saved scan
}

// The compact fix encoding: steps between indexes, time stamps that go back
// as well as forward, lengths of every size, and a list cut anywhere refused.
TEST(PcapfileHandoff, ManyFixesRoundTripInAnyTimeOrder) {
  temp_dir t;
  const std::string file = (t.path() / "scans.bin").string();
  tapsense::pcapfile::scan_result r;
  r.path = "/nowhere/big.pcap";
  r.packets = 100'000'000;
  std::uint64_t index = 0;
  for (std::uint32_t k = 0; k < 5000; ++k) {
    index += 1 + (k % 7 == 0 ? 70000 / 7 : 0) + k % 3;
    tapsense::pcapfile::length_fix f;
    f.index = index;
    f.caplen = k % 5 == 0 ? 65535 : 60 + k % 100;
    f.orig_len = k % 11 == 0 ? 262144 : f.caplen + 1 + k;
    // Forward, backward (an out-of-order capture) and before 1970 (wrapped).
    f.ts_us = k % 13 == 0 ? 1'700'000'000'000'000u - k * 1000u : (k % 97 == 0 ? ~std::uint64_t{0} - k
                                                                              : 1'700'000'000'000'000u + k * 10u);
    r.fixes.push_back(f);
  }
  std::string why;
  ASSERT_TRUE(tapsense::pcapfile::save_scans(file, {r}, why)) << why;
  const auto loaded = tapsense::pcapfile::load_scans(file, why);
  ASSERT_TRUE(loaded) << why;
  ASSERT_EQ(loaded->size(), 1u);
  const auto& y = (*loaded)[0].fixes;
  ASSERT_EQ(y.size(), r.fixes.size());
  for (std::size_t k = 0; k < y.size(); ++k) {
    ASSERT_EQ(y[k].index, r.fixes[k].index) << k;
    ASSERT_EQ(y[k].caplen, r.fixes[k].caplen) << k;
    ASSERT_EQ(y[k].orig_len, r.fixes[k].orig_len) << k;
    ASSERT_EQ(y[k].ts_us, r.fixes[k].ts_us) << k;
  }
  // About 8 bytes a fix at most, where it was 24.
  EXPECT_LT(std::filesystem::file_size(file), 200u + r.fixes.size() * 10u);
}

// The scan as it goes: scan() reports every progress_every packets, and what
// it reports (taking the fixes each time) adds up to the whole result.
TEST(PcapfileHandoff, ProgressAddsUpToTheWholeScan) {
  temp_dir t;
  writer w;
  pcap_header(w);
  const std::uint64_t n = 2 * tapsense::pcapfile::progress_every + 5;
  for (std::uint64_t i = 0; i < n; ++i) {
    // Every third record cut short (caplen 20 of a 60-byte frame).
    pcap_record(w, 1700000000 + static_cast<std::uint32_t>(i / 1000), static_cast<std::uint32_t>(i % 1000),
                20, i % 3 == 0 ? 60 : 20);
  }
  const std::string a = t.write("a.pcap", w.data());
  const scan_result whole = scan(a, {}, true);
  ASSERT_TRUE(whole.ok()) << whole.message;
  ASSERT_EQ(whole.packets, n);
  std::vector<std::uint64_t> at;
  std::vector<length_fix> taken;
  const scan_result last = scan(a, [&](scan_result& r) {
    at.push_back(r.packets);
    for (const auto& f : r.fixes) {
      EXPECT_LT(f.index, r.packets);
      taken.push_back(f);
    }
    r.fixes.clear();
    return true;
  }, true);
  EXPECT_FALSE(last.stopped);
  EXPECT_EQ(at, (std::vector<std::uint64_t>{tapsense::pcapfile::progress_every,
                                            2 * tapsense::pcapfile::progress_every}));
  EXPECT_EQ(last.packets, n);
  taken.insert(taken.end(), last.fixes.begin(), last.fixes.end());
  ASSERT_EQ(taken.size(), whole.fixes.size());
  for (std::size_t k = 0; k < taken.size(); ++k) {
    ASSERT_EQ(taken[k].index, whole.fixes[k].index) << k;
    ASSERT_EQ(taken[k].orig_len, whole.fixes[k].orig_len) << k;
    ASSERT_EQ(taken[k].ts_us, whole.fixes[k].ts_us) << k;
  }
}

// An interrupted run stops its scan from the progress callback: the scan ends
// there, says so, and what it counted is the records before that point.
TEST(PcapfileHandoff, ProgressCanStopTheScan) {
  temp_dir t;
  writer w;
  pcap_header(w);
  const std::uint64_t n = 3 * tapsense::pcapfile::progress_every;
  for (std::uint64_t i = 0; i < n; ++i) {
    pcap_record(w, 1700000000 + static_cast<std::uint32_t>(i / 1000), static_cast<std::uint32_t>(i % 1000), 20, 20);
  }
  const std::string a = t.write("a.pcap", w.data());
  unsigned calls = 0;
  const scan_result r = scan(a, [&](scan_result&) { return ++calls < 1; });
  EXPECT_EQ(calls, 1u);
  EXPECT_TRUE(r.stopped);
  EXPECT_TRUE(r.ok()) << r.message;  // stopped is no verdict on the file
  EXPECT_EQ(r.packets, tapsense::pcapfile::progress_every);
  // 24-byte file header, then 16 + 20 bytes a record.
  EXPECT_EQ(r.stop_offset, 24u + r.packets * 36u);
  EXPECT_FALSE(scan(a).stopped);
}

// Capture follows the supervisor's scan while it is written: it sees each
// file's progress as it comes, never half a record, and the whole result at
// the end, the same as load_scans() reads.
TEST(PcapfileHandoff, FollowerSeesTheScanAsItIsWritten) {
  temp_dir t;
  const std::string a = t.write("a.pcap", small_pcap(true, magic_ns));
  writer w;
  pcap_header(w);
  for (std::uint32_t i = 0; i < 10; ++i) pcap_record(w, 1700000000 + i, 0, 30, i % 2 == 0 ? 30 : 90);
  const std::string b = t.write("b.pcap", w.data());
  const std::string file = (t.path() / "scans.bin").string();
  tapsense::pcapfile::scan_follower follow(file);
  std::string why;
  ASSERT_TRUE(follow.poll(why)) << why;  // not written yet: nothing, and no error
  EXPECT_FALSE(follow.exists());

  tapsense::pcapfile::scan_writer out;
  ASSERT_TRUE(out.open(file, why)) << why;
  scan_result ra = scan(a, {}, true);
  ASSERT_TRUE(out.end(ra, why)) << why;  // progress never called: end() gives every fix
  ASSERT_TRUE(follow.poll(why)) << why;
  ASSERT_EQ(follow.files().size(), 1u);
  EXPECT_TRUE(follow.files()[0].ended);
  EXPECT_EQ(follow.files()[0].result.packets, ra.packets);
  EXPECT_FALSE(follow.complete());

  // b in two steps: the first six packets (three fixes: 1, 3, 5), then the rest.
  const scan_result rb = scan(b, {}, true);
  ASSERT_EQ(rb.fixes.size(), 5u);
  scan_result part = rb;
  part.packets = 6;
  ASSERT_TRUE(out.progress(part, std::span(rb.fixes).first(3), why)) << why;
  ASSERT_TRUE(follow.poll(why)) << why;
  ASSERT_EQ(follow.files().size(), 2u);
  const auto& fb = follow.files()[1];
  EXPECT_EQ(fb.result.path, b);
  EXPECT_EQ(fb.result.linktypes, std::vector<std::uint32_t>{1});
  EXPECT_FALSE(fb.ended);
  EXPECT_EQ(fb.scanned, 6u);
  ASSERT_EQ(fb.fixes.size(), 3u);
  EXPECT_EQ(fb.fixes[2].index, 5u);
  EXPECT_EQ(fb.fixes[2].orig_len, 90u);
  EXPECT_TRUE(tapsense::pcapfile::still_current(fb.result, b));

  // Half a record on disk (the writer's write() not finished): not taken.
  scan_result rest = rb;  // end() gives the fixes progress() has not
  rest.fixes.erase(rest.fixes.begin(), rest.fixes.begin() + 3);
  ASSERT_TRUE(out.end(rest, why) && out.finish(2, why)) << why;
  std::vector<std::uint8_t> bytes;
  {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "rb"), std::fclose);
    ASSERT_TRUE(f);
    int c = 0;
    while ((c = std::fgetc(f.get())) != EOF) bytes.push_back(static_cast<std::uint8_t>(c));
  }
  fs::resize_file(file, bytes.size() - 3);
  ASSERT_TRUE(follow.poll(why)) << why;
  EXPECT_FALSE(follow.complete());
  EXPECT_GT(follow.partial(), 0u);
  // The rest of it arrives.
  {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "ab"), std::fclose);
    ASSERT_TRUE(f);
    ASSERT_EQ(std::fwrite(bytes.data() + bytes.size() - 3, 1, 3, f.get()), 3u);
  }
  ASSERT_TRUE(follow.poll(why)) << why;
  EXPECT_TRUE(follow.complete());
  EXPECT_EQ(follow.partial(), 0u);
  EXPECT_TRUE(fb.ended);
  EXPECT_EQ(fb.scanned, 10u);
  ASSERT_EQ(fb.fixes.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) EXPECT_EQ(fb.fixes[k].index, rb.fixes[k].index);
  const auto loaded = tapsense::pcapfile::load_scans(file, why);
  ASSERT_TRUE(loaded) << why;
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[1].packets, 10u);
  EXPECT_EQ((*loaded)[1].fixes.size(), 5u);
}

// A follower reading a finished stream at once gets what load_scans() gets;
// a record of a kind it does not know, or fixes past the scanned count, stop it.
TEST(PcapfileHandoff, FollowerRefusesWhatNoWriterWrites) {
  temp_dir t;
  writer w;
  pcap_header(w);
  for (std::uint32_t i = 0; i < 4; ++i) pcap_record(w, 1700000000 + i, 0, 30, 31);
  const std::string a = t.write("a.pcap", w.data());
  const scan_result r = scan(a, {}, true);
  const std::string file = (t.path() / "scans.bin").string();
  std::string why;
  {
    tapsense::pcapfile::scan_writer out;
    ASSERT_TRUE(out.open(file, why)) << why;
    scan_result part = r;
    part.packets = 2;  // claims 2 scanned, but gives the fix of packet 3
    ASSERT_TRUE(out.progress(part, std::span(r.fixes).subspan(3, 1), why)) << why;
  }
  tapsense::pcapfile::scan_follower bad(file);
  EXPECT_FALSE(bad.poll(why));
  EXPECT_NE(why.find("bad fix"), std::string::npos) << why;

  ASSERT_TRUE(tapsense::pcapfile::save_scans(file, {r}, why)) << why;
  tapsense::pcapfile::scan_follower good(file);
  ASSERT_TRUE(good.poll(why)) << why;
  EXPECT_TRUE(good.complete());
  ASSERT_EQ(good.files().size(), 1u);
  EXPECT_EQ(good.files()[0].fixes.size(), 4u);
  EXPECT_EQ(good.files()[0].scanned, 4u);
  // An unknown record after the end.
  {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "ab"), std::fclose);
    ASSERT_TRUE(f);
    const char junk[] = {'Q', 0, 0, 0, 0};
    ASSERT_EQ(std::fwrite(junk, 1, sizeof junk, f.get()), sizeof junk);
  }
  EXPECT_FALSE(good.poll(why));
  EXPECT_FALSE(tapsense::pcapfile::load_scans(file, why));
}

// What a follower cannot wait for: a record of a kind no writer makes, or
// longer than any writer makes, is refused at once, not awaited forever.
// A whole file's fixes saved at once come in records of a bounded size.
TEST(PcapfileHandoff, FollowerDoesNotWaitForWhatNoWriterWrites) {
  std::string why;
  tapsense::pcapfile::scan_follower junk("junk");
  EXPECT_FALSE(junk.feed(std::string("TSSCAN03Qxxxx", 13), why));
  EXPECT_NE(why.find("not a record"), std::string::npos) << why;
  tapsense::pcapfile::scan_follower huge("huge");
  EXPECT_FALSE(huge.feed(std::string("TSSCAN03P\xff\xff\xff\x7f", 13), why));
  tapsense::pcapfile::scan_follower cut("cut");  // a real record, half written: awaited
  EXPECT_TRUE(cut.feed(std::string("TSSCAN03P\x10\0\0\0\x01", 14), why)) << why;
  EXPECT_GT(cut.partial(), 0u);

  temp_dir t;
  const std::string file = (t.path() / "scans.bin").string();
  scan_result r;
  r.path = "/nowhere/cut-short.pcap";
  // About 21 bytes a fix (time stamps that swing by 2^62 each time, the
  // longest lengths): 5.5 MB of fixes, more than one record may hold.
  r.packets = 4 * tapsense::pcapfile::progress_every;
  for (std::uint64_t i = 0; i < r.packets; ++i) {
    r.fixes.push_back({i, 0xfffffff0u, 0xffffffffu, i % 2 == 0 ? 0 : std::uint64_t{1} << 62});
  }
  ASSERT_TRUE(tapsense::pcapfile::save_scans(file, {r}, why)) << why;
  EXPECT_GT(std::filesystem::file_size(file), 5'000'000u);
  const auto loaded = tapsense::pcapfile::load_scans(file, why);
  ASSERT_TRUE(loaded) << why;
  ASSERT_EQ((*loaded)[0].fixes.size(), r.fixes.size());
  EXPECT_EQ((*loaded)[0].fixes.back().index, r.fixes.back().index);
  EXPECT_EQ((*loaded)[0].fixes.back().ts_us, r.fixes.back().ts_us);

  // A scan made elsewhere takes a file's place, ended, fixes and all.
  tapsense::pcapfile::scan_follower mine("");
  mine.put(0, r);
  ASSERT_EQ(mine.files().size(), 1u);
  EXPECT_TRUE(mine.files()[0].ended);
  EXPECT_EQ(mine.files()[0].scanned, r.packets);
  EXPECT_EQ(mine.files()[0].fixes.size(), r.fixes.size());
  EXPECT_TRUE(mine.files()[0].result.fixes.empty());
}

// ---- record_reader against libpcap ----

// Each record as libpcap's pcap_next_ex() gives it on one pcap_t, and as
// record_reader gives it on another of the same file: the same return
// codes, headers and bytes, to the end (or the same error). Returns how
// many records matched; `taken` says whether the reader took the file.
struct compared {
  std::uint64_t records = 0;
  bool taken = false;
  int last_rc = 0;
  std::uint64_t handed = 0;
};

compared compare_with_libpcap(const std::string& file, int precision, std::size_t chunk) {
  compared out;
  std::array<char, PCAP_ERRBUF_SIZE> e1{};
  std::array<char, PCAP_ERRBUF_SIZE> e2{};
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> lib(pcap_open_offline_with_tstamp_precision(file.c_str(), precision,
                                                                                         e1.data()),
                                                 pcap_close);
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> mine(pcap_open_offline_with_tstamp_precision(file.c_str(), precision,
                                                                                          e2.data()),
                                                  pcap_close);
  EXPECT_TRUE(lib && mine) << file << ": " << e1.data();
  if (!lib || !mine) return out;
  auto reader = record_reader::open(mine.get(), chunk);
  out.taken = reader != nullptr;
  if (!reader) return out;
  for (;;) {
    pcap_pkthdr* h1 = nullptr;
    pcap_pkthdr* h2 = nullptr;
    const u_char* d1 = nullptr;
    const u_char* d2 = nullptr;
    const int rc1 = pcap_next_ex(lib.get(), &h1, &d1);
    const int rc2 = reader->next(&h2, &d2);
    EXPECT_EQ(rc2, rc1) << file << " record " << out.records;
    out.last_rc = rc1;
    if (rc1 != rc2) break;
    if (rc1 != 1) {
      EXPECT_STREQ(pcap_geterr(mine.get()), pcap_geterr(lib.get())) << file;
      break;
    }
    EXPECT_EQ(h2->ts.tv_sec, h1->ts.tv_sec) << file << " record " << out.records;
    EXPECT_EQ(h2->ts.tv_usec, h1->ts.tv_usec) << file << " record " << out.records;
    EXPECT_EQ(h2->caplen, h1->caplen) << file << " record " << out.records;
    EXPECT_EQ(h2->len, h1->len) << file << " record " << out.records;
    if (h1->caplen != h2->caplen || std::memcmp(d1, d2, h1->caplen) != 0) {
      ADD_FAILURE() << file << " record " << out.records << ": other bytes";
      break;
    }
    ++out.records;
  }
  out.handed = reader->handed_to_libpcap();
  return out;
}

// A record whose bytes tell it apart from its neighbours.
void pattern_record(writer& w, std::uint32_t sec, std::uint32_t frac, std::uint32_t caplen, std::uint32_t len) {
  w.u32(sec).u32(frac).u32(caplen).u32(len);
  for (std::uint32_t i = 0; i < caplen; ++i) w.u8(static_cast<std::uint8_t>(i * 7 + caplen + sec));
}

std::vector<std::uint8_t> varied_pcap(bool big, std::uint32_t magic, std::uint32_t snaplen) {
  writer w(big);
  pcap_header(w, magic, snaplen);
  const std::uint32_t most = magic == magic_ns ? 999999999 : 999999;
  for (std::uint32_t i = 0; i < 300; ++i) {
    const std::uint32_t caplen = 14 + (i * 37) % 1500;
    pattern_record(w, 1700000000 + i, (i * 104729) % (most + 1), caplen, caplen + (i % 5 == 0 ? 100 : 0));
  }
  pattern_record(w, 0x80000001, most, 60, 60);   // past 2038: libpcap's seconds are signed
  pattern_record(w, 1700000400, 0xfffffff0, 60, 60);  // a fraction out of range, signed too
  pattern_record(w, 1700000401, 5, 0, 0);          // nothing captured
  pattern_record(w, 1700000402, 6, 3000, 3000);    // longer than the small chunks
  pattern_record(w, 1700000403, 7, snaplen + 10, snaplen + 10);  // libpcap cuts it to the snapshot
  pattern_record(w, 1700000404, 8, 90, 90);
  return w.data();
}

TEST(RecordReader, GivesWhatLibpcapGivesInEveryByteOrderAndPrecision) {
  temp_dir d;
  for (const bool big : {false, true}) {
    for (const std::uint32_t magic : {magic_us, magic_ns}) {
      const auto file = d.write("varied.pcap", varied_pcap(big, magic, 4096));
      for (const int precision : {PCAP_TSTAMP_PRECISION_MICRO, PCAP_TSTAMP_PRECISION_NANO}) {
        for (const std::size_t chunk : {std::size_t{64}, std::size_t{1000}, record_reader::default_chunk}) {
          SCOPED_TRACE(::testing::Message() << "big " << big << " magic " << std::hex << magic << std::dec
                                            << " precision " << precision << " chunk " << chunk);
          const auto c = compare_with_libpcap(file, precision, chunk);
          EXPECT_TRUE(c.taken);
          EXPECT_EQ(c.records, 306u);
          EXPECT_EQ(c.last_rc, PCAP_ERROR_BREAK);
          // The cut record always, and records longer than the chunk.
          EXPECT_GE(c.handed, 2u);
          if (chunk == record_reader::default_chunk) {
            EXPECT_EQ(c.handed, 2u);  // the cut one and the end
          }
        }
      }
    }
  }
}

TEST(RecordReader, StopsWhereLibpcapStops) {
  temp_dir d;
  const auto whole = varied_pcap(false, magic_us, 65535);
  // Cut inside a record header, inside a record's data, and just after one.
  std::size_t after_first = 24 + 16 + 14;
  for (const std::size_t n : {whole.size() - 3, whole.size() - 95, after_first + 5, after_first}) {
    const auto file = d.write("cut.pcap", cut(whole, n));
    for (const std::size_t chunk : {std::size_t{64}, record_reader::default_chunk}) {
      const auto c = compare_with_libpcap(file, PCAP_TSTAMP_PRECISION_MICRO, chunk);
      EXPECT_TRUE(c.taken);
      EXPECT_EQ(c.last_rc, n == after_first ? PCAP_ERROR_BREAK : PCAP_ERROR) << n;
    }
  }
  // A corrupt length in the middle: libpcap's error, at the same record.
  writer w;
  pcap_header(w);
  pattern_record(w, 1700000000, 1, 60, 60);
  w.u32(1700000001).u32(2).u32(0x7fffffff).u32(0x7fffffff).fill(64);
  pattern_record(w, 1700000002, 3, 60, 60);
  const auto bad = d.write("bad.pcap", w.data());
  const auto c = compare_with_libpcap(bad, PCAP_TSTAMP_PRECISION_MICRO, record_reader::default_chunk);
  EXPECT_EQ(c.records, 1u);
  EXPECT_EQ(c.last_rc, PCAP_ERROR);
}

TEST(RecordReader, LeavesOtherFormatsToLibpcap) {
  temp_dir d;
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  auto taken = [&](const std::vector<std::uint8_t>& bytes) {
    const auto file = d.write("other.pcap", bytes);
    std::unique_ptr<pcap_t, void (*)(pcap_t*)> p(pcap_open_offline(file.c_str(), err.data()), pcap_close);
    EXPECT_TRUE(p) << err.data();
    return p && record_reader::open(p.get()) != nullptr;
  };
  writer ng;
  ng_shb(ng);
  ng_idb(ng);
  ng_epb(ng, 0, 1, 60, 60);
  EXPECT_FALSE(taken(ng.data()));
  writer kuz;
  kuz.u32(0xa1b2cd34).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1);
  kuz.u32(1700000000).u32(0).u32(60).u32(60).fill(8, 0).fill(60);
  EXPECT_FALSE(taken(kuz.data()));
  writer v23;
  v23.u32(magic_us).u16(2).u16(3).u32(0).u32(0).u32(65535).u32(1);
  pattern_record(v23, 1700000000, 0, 60, 60);
  EXPECT_FALSE(taken(v23.data()));
  // The other byte order, and a link type whose headers libpcap swaps.
  writer usb(true);
  pcap_header(usb, magic_us, 65535, 189);
  pattern_record(usb, 1700000000, 0, 64, 64);
  EXPECT_FALSE(taken(usb.data()));
  writer eth(true);
  pcap_header(eth, magic_us, 65535, 1);
  pattern_record(eth, 1700000000, 0, 64, 64);
  EXPECT_TRUE(taken(eth.data()));
}

// ---- real captures, against tshark ----

std::vector<std::string> shared_captures() {
  std::vector<std::string> out;
  const fs::path root = TAPSENSE_SHARED_PCAPS;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return out;
  }
  for (const auto& e : fs::recursive_directory_iterator(root, ec)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".pcap" || ext == ".pcapng")) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool have_tshark() { return std::system("tshark -v >/dev/null 2>&1") == 0; }

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) {
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return q + "'";
}

struct tshark_frame {
  std::uint32_t len;
  std::uint32_t cap_len;
  std::uint64_t ts_ns;
};

// "1427823005.918740000" -> ns
std::uint64_t parse_epoch_ns(const std::string& s) {
  const auto dot = s.find('.');
  const std::uint64_t sec = std::stoull(s.substr(0, dot));
  std::string frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  frac.resize(9, '0');
  return sec * 1'000'000'000u + std::stoull(frac);
}

bool run_tshark(const std::string& file, std::vector<tshark_frame>& frames) {
  const std::string cmd = "tshark -n -r " + shell_quote(file) +
                          " -T fields -e frame.len -e frame.cap_len -e frame.time_epoch 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) {
    return false;
  }
  std::array<char, 256> line{};
  while (std::fgets(line.data(), static_cast<int>(line.size()), p.get()) != nullptr) {
    std::istringstream in(line.data());
    std::string len;
    std::string cap;
    std::string ts;
    if (!(in >> len >> cap >> ts)) {
      return false;
    }
    frames.push_back({static_cast<std::uint32_t>(std::stoul(len)),
                      static_cast<std::uint32_t>(std::stoul(cap)), parse_epoch_ns(ts)});
  }
  return true;
}

// Wireshark's file type for a capture, as capinfos -M names it ("pcap",
// "pcapng", "rh6_1pcap", ...). Wiretap recognises the old patched
// tcpdump formats (24-byte record headers behind the standard magic) by
// heuristics that libpcap does not have; on those files tshark reads other
// records than net_pcap will, so it is no reference for scan().
std::string wiretap_file_type(const std::string& file) {
  const std::string cmd = "capinfos -t -M " + shell_quote(file) + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) {
    return {};
  }
  std::array<char, 512> line{};
  while (std::fgets(line.data(), static_cast<int>(line.size()), p.get()) != nullptr) {
    std::string l(line.data());
    if (l.rfind("File type:", 0) == 0) {
      l = l.substr(10);
      l.erase(0, l.find_first_not_of(" \t"));
      l.erase(l.find_last_not_of(" \t\r\n") + 1);
      return l;
    }
  }
  return {};
}

// capinfos -M names: the formats libpcap reads as wiretap does (Kuznetzov's
// "modpcap" has its own magic, which libpcap knows).
bool libpcap_reads_like_wiretap(const std::string& type) {
  return type == "pcap" || type == "nsecpcap" || type == "pcapng" || type == "modpcap";
}

class SharedCapture : public ::testing::TestWithParam<std::string> {};

TEST(PcapfileShared, CapturesArePresent) {
  if (!fs::is_directory(TAPSENSE_SHARED_PCAPS)) {
    GTEST_SKIP() << TAPSENSE_SHARED_PCAPS << " absent";
  }
  // A tree that exists but yields nothing means the walk is broken: fail.
  EXPECT_GE(shared_captures().size(), 10u) << "no captures found under " << TAPSENSE_SHARED_PCAPS;
}

TEST_P(SharedCapture, MatchesTshark) {
  if (!have_tshark()) {
    GTEST_SKIP() << "tshark not installed";
  }
  const std::string& file = GetParam();
  if (const std::string type = wiretap_file_type(file); !libpcap_reads_like_wiretap(type)) {
    // scan() must still give a one-line verdict, never a crash.
    const scan_result r = scan(file);
    EXPECT_TRUE(r.error == scan_error::none || !r.message.empty());
    GTEST_SKIP() << file << ": wiretap reads it as \"" << type
                 << "\", a variant libpcap does not know; tshark is no reference for it";
  }
  std::vector<tshark_frame> frames;
  ASSERT_TRUE(run_tshark(file, frames)) << file;
  ASSERT_FALSE(frames.empty()) << "tshark read nothing from " << file;

  const scan_result r = scan(file, {}, true);
  ASSERT_EQ(r.error, scan_error::none) << r.message;
  EXPECT_EQ(r.packets, frames.size());

  std::vector<std::pair<std::uint64_t, std::uint32_t>> want;  // (index, orig_len)
  std::uint64_t captured = 0;
  std::uint64_t wire = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    captured += frames[i].cap_len;
    wire += frames[i].len;
    if (frames[i].len != frames[i].cap_len) {
      want.emplace_back(i, frames[i].len);
    }
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>> got;
  for (const length_fix& f : r.fixes) {
    got.emplace_back(f.index, f.orig_len);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.captured_bytes, captured);
  EXPECT_EQ(r.wire_bytes, wire);
  EXPECT_EQ(r.first_ts_ns / 1000, frames.front().ts_ns / 1000);
  EXPECT_EQ(r.last_ts_ns / 1000, frames.back().ts_ns / 1000);
}

// Whether record_reader should take a file, from its first 24 bytes: a
// classic pcap of version 2.4 with the microsecond or nanosecond magic, in
// this machine's byte order, or in the other with Ethernet frames.
bool reader_should_take(const std::string& file) {
  std::array<std::uint8_t, 24> h{};
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "rb"), std::fclose);
  if (!f || std::fread(h.data(), 1, h.size(), f.get()) != h.size()) return false;
  auto le32 = [&](std::size_t o) {
    return std::uint32_t{h[o]} | std::uint32_t{h[o + 1]} << 8 | std::uint32_t{h[o + 2]} << 16 |
           std::uint32_t{h[o + 3]} << 24;
  };
  auto be32 = [&](std::size_t o) { return __builtin_bswap32(le32(o)); };
  const bool native = le32(0) == magic_us || le32(0) == magic_ns;
  const bool swapped = be32(0) == magic_us || be32(0) == magic_ns;
  if (native) {
    return (le32(4) & 0xffff) == 2 && (le32(4) >> 16) == 4;
  }
  return swapped && h[4] == 0 && h[5] == 2 && h[6] == 0 && h[7] == 4 && be32(20) == 1;
}

// Every capture reads through record_reader as libpcap reads it, whole; the
// ones it does not take (pcapng, other variants) it leaves to libpcap.
TEST_P(SharedCapture, RecordReaderMatchesLibpcap) {
  const std::string& file = GetParam();
  const auto c = compare_with_libpcap(file, PCAP_TSTAMP_PRECISION_MICRO, record_reader::default_chunk);
  ASSERT_EQ(c.taken, reader_should_take(file)) << file;
  if (!c.taken) return;
  EXPECT_GT(c.records, 0u) << file;
  EXPECT_EQ(compare_with_libpcap(file, PCAP_TSTAMP_PRECISION_NANO, 4096).records, c.records) << file;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  const fs::path p(info.param);
  std::string n = p.parent_path().filename().string() + "_" + p.filename().string();
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      c = '_';
    }
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Pcaps, SharedCapture, ::testing::ValuesIn(shared_captures()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SharedCapture);

}  // namespace

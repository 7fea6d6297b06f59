// The output helpers every JSON file goes through: the RFC 3339 formatter
// (checked against the C library's gmtime_r/strftime) and the buffered JSON
// writer (escaping, and output larger than its buffer); and the peak
// resident size every process logs.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <sstream>

#include "common/util/json.h"
#include "common/util/resources.h"
#include "common/util/time.h"

using namespace tapsense::util;

namespace {
std::string libc_rfc3339(std::uint64_t ns) {
  const auto secs = static_cast<std::time_t>(ns / ns_per_s);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[40];
  const auto n = std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%.*s.%06uZ", static_cast<int>(n), date,
                static_cast<unsigned>(ns % ns_per_s / ns_per_us));
  return out;
}
}  // namespace

TEST(Rfc3339, KnownInstants) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000000Z");
  // The example in time.h: 2013-02-26T22:02:41.116234Z.
  EXPECT_EQ(rfc3339(1361916161116234000ULL), "2013-02-26T22:02:41.116234Z");
  // Leap day, and the last microsecond of a leap year.
  EXPECT_EQ(rfc3339(951782400ULL * ns_per_s), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(rfc3339(1735689599ULL * ns_per_s + 999999999ULL), "2024-12-31T23:59:59.999999Z");
}

TEST(Rfc3339, AgreesWithGmtimeOverTwoCenturies) {
  std::mt19937_64 rng(7);
  // 1970 .. 2170, plus every day boundary of 2100 (not a leap year).
  std::uniform_int_distribution<std::uint64_t> secs(0, 6311390400ULL);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t ns = secs(rng) * ns_per_s + rng() % ns_per_s;
    ASSERT_EQ(rfc3339(ns), libc_rfc3339(ns)) << ns;
  }
  for (std::uint64_t day = 0; day < 366; ++day) {
    const std::uint64_t ns = (4102444800ULL + day * 86400 - 1) * ns_per_s;
    ASSERT_EQ(rfc3339(ns), libc_rfc3339(ns)) << ns;
  }
}

TEST(JsonWriter, EscapesWhatJsonCannotCarry) {
  EXPECT_EQ(json_writer::escape("plain text"), "\"plain text\"");
  EXPECT_EQ(json_writer::escape("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_writer::escape("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(json_writer::escape(std::string_view("\x00\x01\x1f\x7f", 4)),
            "\"\\u0000\\u0001\\u001f\\u007f\"");
  // Valid UTF-8 is kept, invalid bytes become U+FFFD one by one.
  EXPECT_EQ(json_writer::escape("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(json_writer::escape("x\xff\xc3y"), "\"x\\ufffd\\ufffdy\"");
  // Overlong form and surrogate are not UTF-8.
  EXPECT_EQ(json_writer::escape("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json_writer::escape("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json_writer::escape(""), "\"\"");
}

TEST(JsonWriter, CompactAndPrettyShapes) {
  std::ostringstream compact;
  {
    json_writer w(compact, false);
    w.begin_object().key("a").value(1).key("b").begin_array().value("x").null().value(true).end_array();
    w.key("c").value(-5).key("d").value(0.5).key("e").begin_object().end_object().end_object();
  }
  EXPECT_EQ(compact.str(), "{\"a\":1,\"b\":[\"x\",null,true],\"c\":-5,\"d\":0.5,\"e\":{}}\n");

  std::ostringstream pretty;
  {
    json_writer w(pretty, true);
    w.begin_array().begin_object().key("k").value(std::uint64_t{18446744073709551615ULL}).end_object().end_array();
  }
  EXPECT_EQ(pretty.str(), "[\n  {\n    \"k\": 18446744073709551615\n  }\n]\n");
}

TEST(JsonWriter, OutputLargerThanTheBufferArrivesWhole) {
  // Several megabytes: the writer hands the stream its buffer many times.
  std::ostringstream out;
  std::string expect = "[";
  {
    json_writer w(out, false);
    w.begin_array();
    for (int i = 0; i < 100000; ++i) {
      const std::string s = "row " + std::to_string(i) + " \"quoted\" " + std::string(40, 'z');
      w.begin_object().key("i").value(i).key("s").value(s).end_object();
      if (i) expect += ',';
      expect += "{\"i\":" + std::to_string(i) + ",\"s\":\"row " + std::to_string(i) +
                " \\\"quoted\\\" " + std::string(40, 'z') + "\"}";
    }
    w.end_array();
  }
  expect += "]\n";
  ASSERT_GT(expect.size(), 5u << 20);
  EXPECT_EQ(out.str(), expect);
}

TEST(JsonWriter, ExplicitFlushDeliversEverythingSoFar) {
  std::ostringstream out;
  json_writer w(out, false);
  w.begin_object().key("a").value("b").end_object();
  w.flush();
  EXPECT_EQ(out.str(), "{\"a\":\"b\"}\n");
}

// The peak every process logs at its end ("resources: peak_rss_kib=") is
// its own: a program started by a large parent (the benchmark's Python)
// must not report the parent's size, as getrusage()'s ru_maxrss does after
// execve(). The test starts itself again, after touching 256 MiB, running
// only the child half below.
TEST(Resources, PeakIsThisImagesNotTheParents) {
  if (const char* out = std::getenv("TAPSENSE_TEST_PEAK_OUT")) {
    // The child, after execve(): its peak and what ru_maxrss says.
    rusage ru{};
    ASSERT_EQ(::getrusage(RUSAGE_SELF, &ru), 0);
    FILE* f = std::fopen(out, "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "%llu %ld\n", static_cast<unsigned long long>(peak_rss_kib()), ru.ru_maxrss);
    std::fclose(f);
    return;
  }
  const std::string out = ::testing::TempDir() + "peak." + std::to_string(::getpid());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    constexpr std::size_t big = std::size_t{256} << 20;
    auto* p = static_cast<volatile char*>(std::malloc(big));
    if (p == nullptr) _exit(3);
    for (std::size_t i = 0; i < big; i += 4096) p[i] = 1;
    ::setenv("TAPSENSE_TEST_PEAK_OUT", out.c_str(), 1);
    const std::string filter = "--gtest_filter=Resources.PeakIsThisImagesNotTheParents";
    char* argv[] = {const_cast<char*>("unit_util"), const_cast<char*>(filter.c_str()), nullptr};
    ::execv("/proc/self/exe", argv);
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  FILE* f = std::fopen(out.c_str(), "r");
  ASSERT_NE(f, nullptr);
  unsigned long long peak = 0;
  long maxrss = 0;
  ASSERT_EQ(std::fscanf(f, "%llu %ld", &peak, &maxrss), 2);
  std::fclose(f);
  std::remove(out.c_str());
  EXPECT_GE(maxrss, 256L << 10) << "ru_maxrss no longer carries the parent's peak: the scenario is gone";
  EXPECT_GT(peak, 0u);
  EXPECT_LT(peak, 128ULL << 10) << "the child reported its parent's peak";
}

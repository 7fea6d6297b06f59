"""Reporting cadence in packet time and bounded memory, on a capture built by
../shared/pcaps/bench/make-bench.py (a 10-minute window of real traffic):
 - with 1-minute flow intervals, every (interval, address pair) carries
   exactly the bytes tshark counts for that pair in that minute, one record
   per tuple and interval;
 - with tables far too small for the capture, nothing is lost (bytes per
   pair equal tshark's and the default run's), the sensor says what it
   evicted, and its aggregator uses less memory."""
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

COPIES = 8


def minute_pairs(pcap):
    out = collections.Counter()
    for src, dst, length, epoch in t.innermost_ip_rows(pcap):
        minute = int(float(epoch)) // 60 * 60
        out[(minute,) + tuple(sorted((src, dst)))] += length
    return out


def peak_rss(out, stage):
    with open(os.path.join(out, "tapsense.log")) as f:
        for line in f:
            m = re.search(r"\[%s:\d+/[\w.]+\] resources: peak_rss_kib=(\d+)" % re.escape(stage), line)
            if m:
                return int(m.group(1))
    raise t.Failure("no resource line for %s" % stage)


def run():
    t.need("tshark")
    make = t.shared_pcap("bench/make-bench.py")
    t.need("tcprewrite")
    work = t.tmpdir()
    pcap = os.path.join(work, "bench.pcap")
    subprocess.run([t.PYTHON, make, pcap, "--copies", str(COPIES)], check=True, capture_output=True)

    # Cadence.
    cfg = t.write_config(work, t.ALL_INTERNAL + '\n[aggregator]\nflow_interval = "1m"\n')
    _, flows, _ = t.run_sensor(pcap, os.path.join(work, "minutes"), config=cfg)
    truth = minute_pairs(pcap)
    ours = collections.Counter()
    seen = set()
    from datetime import datetime, timezone

    def epoch(s):
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    for f in flows:
        start, end = epoch(f["interval_start"]), epoch(f["interval_end"])
        t.check(start % 60 == 0 and end - start == 60, "interval %s..%s" % (f["interval_start"], f["interval_end"]))
        t.check(start <= epoch(f["first_seen"]) <= epoch(f["last_seen"]) < end,
                "flow outside its interval: %s" % f)
        key = (f["interval_start"], f["src_ip"], f.get("src_mac"), f["dst_ip"], f["dst_port"], f["protocol"],
               f["network"])  # an unassigned client (0.0.0.0) is one flow per MAC
        t.check(key not in seen, "two records for one tuple in one interval: %s" % (key,))
        seen.add(key)
        ours[(int(start),) + tuple(sorted((f["src_ip"], f["dst_ip"])))] += f["bytes_src_to_dst"] + f["bytes_dst_to_src"]
    minutes = {k[0] for k in truth}
    t.check(len(minutes) >= 10, "the capture spans only %d minutes" % len(minutes))
    bad = [(k, ours.get(k), v) for k, v in truth.items() if ours.get(k) != v]
    t.check(not bad and len(ours) == len(truth), "%d (minute, pair) totals differ, e.g. %s" % (len(bad), bad[:3]))
    print("cadence: %d minutes, %d (minute, pair) totals equal tshark's" % (len(minutes), len(truth)))

    # Bounded memory: the default tables, then tables far too small.
    cfg = t.write_config(work, t.ALL_INTERNAL)
    big_out = os.path.join(work, "big")
    big_assets, big_flows, _ = t.run_sensor(pcap, big_out, config=cfg)
    cfg_small = os.path.join(work, "small.toml")
    with open(cfg_small, "w") as f:
        f.write(t.ALL_INTERNAL + "\n[aggregator]\nflow_table = 1024\nreport_table = 1024\nasset_table = 256\n"
                "name_table = 256\n")
    small_out = os.path.join(work, "small")
    small_assets, small_flows, _ = t.run_sensor(pcap, small_out, config=cfg_small)
    pairs_truth = t.tshark_ip_pair_bytes(pcap)
    for what, fl in (("default tables", big_flows), ("small tables", small_flows)):
        got = t.flow_pair_bytes(fl)
        diff = [(k, got.get(k), v) for k, v in pairs_truth.items() if got.get(k) != v]
        t.check(not diff, "%s: %d pairs differ from tshark, e.g. %s" % (what, len(diff), diff[:3]))
    key = lambda a: (a["network"] or "", a["mac"] or "", a["ip"] or "", a["bytes_in"], a["bytes_out"])
    t.check(sorted(map(key, big_assets)) == sorted(map(key, small_assets)), "small tables changed the assets")
    with open(os.path.join(small_out, "tapsense.log")) as f:
        log = f.read()
    for said in ("connection table full", "report table full", "asset table full"):
        t.check(said in log, "small tables: the log does not say '%s'" % said)
    big_rss, small_rss = peak_rss(big_out, "aggregator.0"), peak_rss(small_out, "aggregator.0")
    t.check(small_rss < big_rss, "small tables: aggregator peak %d KiB, default %d KiB" % (small_rss, big_rss))
    print("bounds: %d pairs and %d assets unchanged with tables of 1024/1024/256; aggregator peak %d -> %d KiB" % (
        len(pairs_truth), len(small_assets), big_rss, small_rss))


t.main(run)

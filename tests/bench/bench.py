#!/usr/bin/env python3
"""Benchmark (not a test): the offline pipeline on a large capture.

Builds the input with ../shared/pcaps/bench/make-bench.py (unless --pcap is
given), then measures, on the same file:
  1. DPDK reading it and dropping every packet (tapsense-capture --rx-and-drop),
     the floor for any pipeline on this machine;
  2. the full five-process pipeline (tapsense-supervisor --pcap), with internal
     ranges covering every address so all inventory work is exercised;
  3. ndpiReader -i (Debian libndpi-bin), for comparison.
Prints packets/s, Gbit/s, wall time, the ratios, and peak memory and CPU time
per process (each tapsense process logs them at exit).

usage: tests/bench/bench.py [--copies N] [--pcap FILE] [--runs R] [--no-ndpi]
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("TAPSENSE_BUILD", os.path.join(SOURCE, "build"))
BIN = os.path.join(BUILD, "bin")
MAKE_BENCH = os.path.normpath(os.path.join(SOURCE, "..", "shared", "pcaps", "bench", "make-bench.py"))


def capinfo(pcap):
    out = subprocess.run(["capinfos", "-c", "-d", "-M", "-T", "-r", pcap], capture_output=True, text=True,
                         check=True).stdout.strip().split("\t")
    return int(out[1]), int(out[2])  # packets, data bytes (captured)




def timed(cmd, **kw):
    """Runs cmd, returns (seconds, peak RSS KiB of the child, CompletedProcess)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    out = p.stdout.read()
    err = p.stderr.read()
    rc = os.waitstatus_to_exitcode(status)
    return secs, ru.ru_maxrss, rc, out, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=300)
    ap.add_argument("--pcap")
    ap.add_argument("--runs", type=int, default=3, help="repetitions; the best time is reported")
    ap.add_argument("--no-ndpi", action="store_true")
    a = ap.parse_args()

    work = os.path.join(BUILD, "bench")
    os.makedirs(work, exist_ok=True)
    pcap = a.pcap
    if not pcap:
        if not os.path.exists(MAKE_BENCH):
            sys.exit("bench: %s not found (../shared/pcaps sits beside the checkout)" % MAKE_BENCH)
        pcap = os.path.join(work, "bench-%d.pcap" % a.copies)
        if not os.path.exists(pcap):
            print("building %s with make-bench.py --copies %d ..." % (pcap, a.copies), flush=True)
            subprocess.run(["/usr/bin/python3", MAKE_BENCH, pcap, "--copies", str(a.copies)], check=True)
    packets, data = capinfo(pcap)
    print("input: %s: %d packets, %.1f MB" % (pcap, packets, data / 1e6))
    # Page cache: every contender reads the file warm.
    subprocess.run(["cat", pcap], stdout=subprocess.DEVNULL, check=True)

    cfg = os.path.join(work, "bench.toml")
    with open(cfg, "w") as f:
        f.write('[sensor]\nlog_level = "info"\n[capture]\npcap = ["%s"]\n'
                '[[internal]]\nname = "everything"\nranges = ["0.0.0.0/0", "::/0"]\n' % pcap)

    def best(label, fn):
        results = [fn() for _ in range(a.runs)]
        return min(results, key=lambda r: r[0])

    def rx_and_drop():
        secs, rss, rc, out, err = timed([os.path.join(BIN, "tapsense-capture"), "--standalone",
                                         "--rx-and-drop", "--config", cfg])
        if rc != 0:
            sys.exit("rx-and-drop failed (%d): %s" % (rc, err))
        m = re.search(r"(\d+) packets, (\d+) bytes", out)
        return secs, rss, int(m.group(2))

    def pipeline():
        out_dir = tempfile.mkdtemp(prefix="tapsense-bench-")
        secs, rss, rc, out, err = timed([os.path.join(BIN, "tapsense-supervisor"), "--pcap", pcap,
                                         "--output", out_dir, "--config", cfg, "--quiet"])
        if rc != 0:
            sys.exit("pipeline failed (%d): %s" % (rc, err))
        procs = {}
        with open(os.path.join(out_dir, "tapsense.log")) as f:
            for line in f:
                m = re.search(r"\[([\w.]+):\d+/[\w.]+\] resources: peak_rss_kib=(\d+) user_s=([\d.]+) sys_s=([\d.]+)", line)
                if m:
                    procs[m.group(1)] = (int(m.group(2)), float(m.group(3)), float(m.group(4)))
        shutil.rmtree(out_dir, ignore_errors=True)
        return secs, rss, procs

    rx = best("rx-and-drop", rx_and_drop)
    wire = rx[2]
    pl = best("pipeline", pipeline)

    def rate(secs):
        return "%9.0f packets/s  %6.3f Gbit/s" % (packets / secs, wire * 8 / secs / 1e9)

    print("\n%-26s %7.3f s  %s" % ("DPDK rx-and-drop", rx[0], rate(rx[0])))
    print("%-26s %7.3f s  %s" % ("tapsense pipeline", pl[0], rate(pl[0])))
    print("%-26s %7.2f   (target <= 1.5)" % ("pipeline / rx-and-drop", pl[0] / rx[0]))
    if not a.no_ndpi and shutil.which("ndpiReader"):
        def ndpi():
            secs, rss, rc, out, err = timed(["ndpiReader", "-i", pcap, "-q"])
            return secs, rss, rc
        nd = best("ndpiReader", ndpi)
        print("%-26s %7.3f s  %s  peak %d MiB" % ("ndpiReader -i", nd[0], rate(nd[0]), nd[1] // 1024))
        print("%-26s %7.2f   (target <= 0.5)" % ("pipeline / ndpiReader", pl[0] / nd[0]))
    print("\npeak memory and CPU per process (pipeline run):")
    for name, (kib, user, sys_) in sorted(pl[2].items()):
        print("  %-18s %7.1f MiB  user %6.2f s  sys %6.2f s" % (name, kib / 1024, user, sys_))


if __name__ == "__main__":
    main()

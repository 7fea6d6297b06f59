"""Sensor events and the drop metrics on a live wire. The capture is frozen
(SIGSTOP) for 3 s during a tcpreplay burst over a veth pair, so the kernel's
socket ring overflows (as in test_live_kernel_drops). Then:
- events.jsonl holds one "Drops Above Threshold" (raised once for the
  episode, not once a second) and, once traffic flows without drops again,
  its "Drops Above Threshold Cleared";
- /metrics' tapsense_dropped_packets_total{stage="capture",cause="kernel"}
  equals --stats' drops.kernel, and tapsense_captured_packets_total its
  rx.packets, once both have settled."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire, sh

FRAMES = 1000
LOOPS = 150
PPS = 30000
PAUSE_S = 3.0


def make_capture(path, frames, start):
    from scapy.all import Ether, IP, UDP, Raw, wrpcap
    pkts = []
    for i in range(frames):
        p = (Ether(src="02:00:00:00:50:0a", dst="02:00:00:00:50:14") /
             IP(src="192.168.50.10", dst="192.168.50.20", id=i) /
             UDP(sport=20000 + i, dport=9999) / Raw(b"x" * 32))
        p.time = start + i / 1000.0
        pkts.append(p)
    wrpcap(path, pkts)


def scrape(ns, port):
    r = sh("ip", "netns", "exec", ns, t.PYTHON, "-c",
           "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:%d/metrics',timeout=5).read().decode())"
           % port)
    values = {}
    for line in r.stdout.split("\n"):
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            values[k] = float(v)
    return values


def events(out):
    path = os.path.join(out, "events.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def run():
    work = t.tmpdir()
    burst = os.path.join(work, "burst.pcap")
    make_capture(burst, FRAMES, 1700000000)
    calm = os.path.join(work, "calm.pcap")
    make_capture(calm, 3000, 1700000100)
    port = 9640
    out = os.path.join(work, "live")
    with Wire("e") as w:
        sh("ip", "netns", "exec", w.ns_sensor, "ip", "link", "set", "lo", "up")
        w.start(work, out, 'driver = "af_packet"\n[supervisor]\nmetrics_listen = "127.0.0.1:%d"\ndrop_event_percent = 5\n'
                % port)
        replay = w.replay_background(burst, PPS, LOOPS)
        pid = None
        deadline = time.time() + 30
        while time.time() < deadline:
            c = w.capture_counters()
            if c.get("rx.packets", 0) > 2000:
                pid = c["pid"]
                break
            time.sleep(0.1)
        t.check(pid is not None, "the capture never saw the replay start")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(PAUSE_S)
        os.kill(pid, signal.SIGCONT)
        w.sent(replay)
        w.settled_stats()
        time.sleep(2.5)  # a health sample after the counters settled
        c = w.capture_counters()
        m = scrape(w.ns_sensor, port)
        raised = [e for e in events(out) if e["event"] == "Drops Above Threshold"]
        # Drop-free traffic for more than the 10 s window: the condition clears.
        calm_replay = w.replay_background(calm, 200, 1)
        w.sent(calm_replay)
        time.sleep(3)
        evs = events(out)
        w.stop()
    drops = c.get("drops.kernel", 0)
    t.check(drops > 0, "no kernel drops after a %.0f s freeze: %s" % (PAUSE_S, c))
    got = m.get('tapsense_dropped_packets_total{cause="kernel",stage="capture"}')
    t.check(got == drops, "tapsense_dropped_packets_total{cause=kernel} %s, --stats drops.kernel %d" % (got, drops))
    t.check(m.get("tapsense_captured_packets_total") == c["rx.packets"],
            "tapsense_captured_packets_total %s, --stats rx.packets %d" % (m.get("tapsense_captured_packets_total"),
                                                                          c["rx.packets"]))
    t.check(len(raised) == 1, "expected one Drops Above Threshold, events.jsonl has %d: %s" % (len(raised), evs))
    t.check(raised[0]["module"] == "capture" and raised[0]["type"] == "warning", "event fields: %s" % raised[0])
    cleared = [e for e in evs if e["event"] == "Drops Above Threshold Cleared"]
    t.check(len(cleared) == 1, "the drops condition did not clear once: %s" % evs)
    print("events: %d kernel drops raised one Drops Above Threshold (%s) and one Cleared; /metrics matches --stats"
          % (drops, raised[0]["detail"]))


t.main(run)

"""Time going backwards (README, Time going backwards): a packet an hour older
than the one before it, in the middle of a capture the test generates, is
counted in the open flow interval at the newest packet time so far. Flows and
assets agree on every byte (tshark's frame.len per address), every flow's
first_seen/last_seen lies inside its interval, and the aggregator counts the
packet as time_backwards."""
import json
import os
import re
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

T0 = 1767225600  # 2026-01-01T00:00:00Z, a multiple of the 30-minute flow interval
A, B = "192.168.1.10", "192.168.1.20"
MAC = {A: "02:00:00:00:01:0a", B: "02:00:00:00:01:14"}


def epoch(s):
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()


def make(path):
    from scapy.all import Ether, IP, TCP, UDP, Raw, wrpcap
    pkts = []

    def add(ts, src, dst, l4, payload=b""):
        p = Ether(src=MAC[src], dst=MAC[dst]) / IP(src=src, dst=dst, ttl=64) / l4 / Raw(payload)
        p.time = ts
        pkts.append(p)

    add(T0 + 10, A, B, TCP(sport=50000, dport=80, flags="S", seq=1))
    add(T0 + 10.001, B, A, TCP(sport=80, dport=50000, flags="SA", seq=100, ack=2))
    add(T0 + 10.002, A, B, TCP(sport=50000, dport=80, flags="A", seq=2, ack=101))
    # One exchange every five minutes for an hour and a half: three intervals.
    for i in range(1, 19):
        ts = T0 + 10 + i * 300
        add(ts, A, B, TCP(sport=50000, dport=80, flags="PA", seq=2 + i, ack=101), b"q" * (20 + i))
        add(ts + 0.01, B, A, TCP(sport=80, dport=50000, flags="PA", seq=101 + i, ack=3 + i), b"r" * (400 + i))
        if i == 8:
            # The clock steps back an hour for one packet (to its own port).
            add(ts + 0.01 - 3600, A, B, UDP(sport=40000, dport=9999), b"x" * 735)
    wrpcap(path, pkts)
    return T0 + 10 + 8 * 300 + 0.01  # the newest time before the old packet


def run():
    t.need("tshark")
    work = t.tmpdir()
    pcap = os.path.join(work, "backwards.pcap")
    newest_before = make(pcap)
    times = [float(x[0]) for x in t.tshark_fields(pcap, "", ["frame.time_epoch"])]
    t.check(any(b < a - 3000 for a, b in zip(times, times[1:])), "the capture has no step back in time")
    out = os.path.join(work, "out")
    assets, flows, _ = t.run_sensor(pcap, out)

    # Every record's times inside its interval.
    for f in flows:
        start, end = epoch(f["interval_start"]), epoch(f["interval_end"])
        t.check(start <= epoch(f["first_seen"]) <= epoch(f["last_seen"]) < end, "flow outside its interval: %s" % f)
    # The old packet: in the interval open when it came, at the newest time seen.
    old = [f for f in flows if f["dst_port"] == 9999]
    t.check(len(old) == 1, "the old packet's flow: %s" % old)
    o = old[0]
    t.check(epoch(o["interval_start"]) == newest_before - (newest_before - T0) % 1800,
            "old packet reported in interval %s" % o["interval_start"])
    t.check(abs(epoch(o["first_seen"]) - newest_before) < 1e-3 and abs(epoch(o["last_seen"]) - newest_before) < 1e-3,
            "old packet's times %s..%s, expected the newest packet time before it" % (o["first_seen"], o["last_seen"]))

    # Nothing lost, and flows and assets agree with tshark per address.
    sent = {}
    for src, _, length, _ in t.innermost_ip_rows(pcap, dedup=False):
        sent[src] = sent.get(src, 0) + length
    by_ip = t.assets_by_ip(assets)
    total = sum(f["bytes_src_to_dst"] + f["bytes_dst_to_src"] for f in flows)
    t.check(total == sum(sent.values()), "flows hold %d bytes, tshark %d" % (total, sum(sent.values())))
    for ip in (A, B):
        from_flows = sum(f["bytes_src_to_dst"] for f in flows if f["src_ip"] == ip) + \
                     sum(f["bytes_dst_to_src"] for f in flows if f["dst_ip"] == ip)
        t.check(ip in by_ip, "%s is not an asset" % ip)
        a = by_ip[ip]
        t.check(a["bytes_out"] == from_flows == sent[ip],
                "%s: asset bytes_out %d, flows %d, tshark %d" % (ip, a["bytes_out"], from_flows, sent[ip]))
        t.check(abs(epoch(a["first_seen"]) - (T0 + 10)) < 0.01 and abs(epoch(a["last_seen"]) - max(times)) < 0.01,
                "%s: asset seen %s..%s" % (ip, a["first_seen"], a["last_seen"]))
    with open(os.path.join(out, "tapsense.log")) as f:
        counts = [int(m) for m in re.findall(r"time backwards (\d+)", f.read())]
    t.check(sum(counts) == 1, "time_backwards counted %s in tapsense.log" % counts)
    print("one packet an hour old: counted once, in the open interval; %d bytes agree in flows and assets" % total)


t.main(run)

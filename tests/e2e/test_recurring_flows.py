"""Flows that come back after a silence: an NTP client polling its server
every 5 minutes from port 123 and a DHCP client renewing its lease every 5
minutes from port 68, over 75 minutes (three flow intervals). Each silence
is longer than the UDP idle timeout (120 s), so each poll is a new connection
for the aggregator, on the same addresses and ports as the one before. Every
flow record of these exchanges must name the service tshark dissects in the
same packets, in every interval: not only the first connection's."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

T0 = 1767225600  # 2026-01-01T00:00:00Z, a multiple of the 30-minute flow interval
CLIENT, NTP_SERVER, DHCP_SERVER = "192.168.7.50", "192.168.7.2", "192.168.7.1"
MAC = {CLIENT: "02:00:00:07:00:32", NTP_SERVER: "02:00:00:07:00:02", DHCP_SERVER: "02:00:00:07:00:01"}
POLLS = 15
EVERY = 300


def make(path):
    from scapy.all import BOOTP, DHCP, IP, NTP, UDP, Ether, wrpcap
    pkts = []

    def add(ts, src, dst, l4):
        p = Ether(src=MAC[src], dst=MAC[dst]) / IP(src=src, dst=dst, ttl=64) / l4
        p.time = ts
        pkts.append(p)

    chaddr = bytes.fromhex(MAC[CLIENT].replace(":", "")) + b"\0" * 10
    for i in range(POLLS):
        ts = T0 + 60 + i * EVERY
        add(ts, CLIENT, NTP_SERVER, UDP(sport=123, dport=123) / NTP(mode=3, version=4))
        add(ts + 0.002, NTP_SERVER, CLIENT, UDP(sport=123, dport=123) / NTP(mode=4, version=4, stratum=2))
        req = BOOTP(op=1, xid=0x1000 + i, ciaddr=CLIENT, chaddr=chaddr) / DHCP(
            options=[("message-type", "request"), ("hostname", b"renewer"), "end"])
        ack = BOOTP(op=2, xid=0x1000 + i, ciaddr=CLIENT, yiaddr=CLIENT, chaddr=chaddr) / DHCP(
            options=[("message-type", "ack"), ("server_id", DHCP_SERVER), ("lease_time", 600), "end"])
        add(ts + 1, CLIENT, DHCP_SERVER, UDP(sport=68, dport=67) / req)
        add(ts + 1.003, DHCP_SERVER, CLIENT, UDP(sport=67, dport=68) / ack)
    wrpcap(path, pkts)


def run():
    t.need("tshark")
    work = t.tmpdir()
    pcap = os.path.join(work, "recurring.pcap")
    make(pcap)
    # The truth: the packets tshark dissects as each protocol.
    truth = {}
    for proto in ("ntp", "dhcp"):
        truth[proto] = len(t.tshark_fields(pcap, proto, ["frame.number"]))
        t.check(truth[proto] == 2 * POLLS, "tshark finds %d %s packets, not %d" % (truth[proto], proto, 2 * POLLS))
    _, flows, _ = t.run_sensor(pcap, os.path.join(work, "out"))

    for port, proto in ((123, "ntp"), (67, "dhcp")):
        records = [f for f in flows if f["protocol"] == "udp" and f["dst_port"] == port]
        intervals = sorted({f["interval_start"] for f in records})
        t.check(len(intervals) == 3, "%s: flow records in %d intervals (%s), expected 3" %
                (proto, len(intervals), intervals))
        packets = sum(f["packets"] for f in records)
        t.check(packets == truth[proto], "%s: %d packets in the flow records, tshark counts %d" %
                (proto, packets, truth[proto]))
        for f in records:
            t.check((f.get("service") or "").lower() == proto,
                    "%s: the record of %s (%s .. %s, %d packets) names service %r" %
                    (proto, f["interval_start"], f["first_seen"], f["last_seen"], f["packets"], f.get("service")))
        print("%s: %d records in %d intervals, every one names %s" % (proto, len(records), len(intervals),
                                                                      proto.upper()))


t.main(run)

"""Frames larger than one packet buffer, in bursts: what a capture taken on a
host with segmentation offload holds (TCP segments and UDP datagrams of up to
64 KB) and what a jumbo-frame network carries (9,000 bytes), then records of
the largest size libpcap reads (262,144 bytes). Capture reads a file through a
pool of 2 KB buffers, smaller than for live capture, and a frame past 2 KB
takes a chain of them: a read burst of the largest records must still fit.
Every packet must reach the flow records, and every byte of frames up to
64 KB. (Of a record past 65,535 bytes the flow records count the bytes of its
IP datagram only: DPDK 22.11's net_pcap keeps lengths in 16 bits.) The truth
is tshark's count of frames and sum of frame.len per address pair, on a
capture the test makes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

T0 = 1767225600  # 2026-01-01T00:00:00Z
HOSTS = {"10.20.0.1": "02:00:00:14:00:01", "10.20.0.2": "02:00:00:14:00:02", "10.20.0.3": "02:00:00:14:00:03",
         "10.20.0.4": "02:00:00:14:00:04"}
BURST = 200  # frames of each kind, a microsecond apart: many read bursts in a row
LARGEST = 262144  # libpcap's largest record
HUGE = 100  # records of that size in a row (capture reads 64 at a time)


def make(path):
    from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap
    pkts = []

    def add(ts, src, dst, l4, ident):
        # (Distinct IP ids: identical frames this close would be dropped as
        # a SPAN session's copies.)
        p = Ether(src=HOSTS[src], dst=HOSTS[dst]) / IP(src=src, dst=dst, ttl=64, id=ident) / l4
        p.time = ts
        pkts.append(p)

    # A TCP stream as a capture with offload holds it: 64 KB segments back
    # to back (more than one read burst of them), an ACK every fourth.
    seq = 1000
    for i in range(BURST):
        ts = T0 + 1 + i * 1e-6
        add(ts, "10.20.0.1", "10.20.0.2", TCP(sport=40000, dport=5001, flags="A", seq=seq) / Raw(b"\x5a" * 65495), i)
        seq += 65495
        if i % 4 == 3:
            add(ts + 5e-7, "10.20.0.2", "10.20.0.1", TCP(sport=5001, dport=40000, flags="A", ack=seq), i)
    # 60,000-byte UDP datagrams and 9,000-byte jumbo frames, interleaved.
    for i in range(BURST):
        ts = T0 + 1.5 + i * 1e-6
        add(ts, "10.20.0.3", "10.20.0.4", UDP(sport=50000, dport=6000) / Raw(b"\x33" * 60000), i)
        add(ts + 5e-7, "10.20.0.4", "10.20.0.3", UDP(sport=6000, dport=50000) / Raw(b"\x11" * 8958), i)
    for i in range(HUGE):
        # A 64 KB datagram and whatever the capturing host put after it, to
        # the largest record (tshark and the sensor count every byte).
        ts = T0 + 2 + i * 1e-6
        add(ts, "10.20.0.1", "10.20.0.4", UDP(sport=50001, dport=6001) / Raw(b"\x44" * 65507), i)
        frame = bytes(pkts[-1])
        pkts[-1] = Ether(frame + b"\0" * (LARGEST - len(frame)))
        pkts[-1].time = ts
    wrpcap(path, pkts, snaplen=262144)


def run():
    t.need("tshark")
    work = t.tmpdir()
    pcap = os.path.join(work, "large.pcap")
    make(pcap)
    truth = t.tshark_ip_pair_bytes(pcap)
    huge_pair = ("10.20.0.1", "10.20.0.4")
    frames = t.tshark_fields(pcap, "", ["frame.len"])
    total = BURST + BURST // 4 + 2 * BURST + HUGE
    t.check(len(frames) == total, "tshark reads %d frames, not %d" % (len(frames), total))
    t.check(max(int(f[0]) for f in frames) == LARGEST, "the largest frame is not %d bytes" % LARGEST)
    cfg = t.write_config(work, t.ALL_INTERNAL)
    _, flows, p = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
    ours = t.flow_pair_bytes(flows)
    t.check(huge_pair in ours, "no flow record of the %d-byte records" % LARGEST)
    del truth[huge_pair], ours[huge_pair]
    t.check_pairs("frames up to 64 KB", ours, truth)
    packets = sum(f["packets"] for f in flows)
    t.check(packets == total, "%d packets in the flow records, the capture holds %d" % (packets, total))
    print("%d frames of up to %d bytes: packets and bytes per address pair agree with tshark" %
          (len(frames), max(int(f[0]) for f in frames)))


t.main(run)

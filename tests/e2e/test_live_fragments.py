"""Live and offline see the same IPv4 fragments. DPDK 22.11's net_af_packet
joins its sockets to a PACKET_FANOUT group with PACKET_FANOUT_FLAG_DEFRAG, so
the kernel used to reassemble fragments before the ring, or drop sets it
refuses (overlapping fragments) without a count: the three fragments of
ipv4-frag/fragmented-1.pcap arrived as nothing. Replayed over a veth pair,
a capture generated here (fragments in order, in reverse order, and an
overlapping set) and the shared fragmented-1.pcap when present must arrive
frame for frame (capinfos counts the frames) and give the assets and bytes
per address pair of the offline run of the same frames."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire


def canonical(assets):
    return sorted((a["mac"], a["ip"], a["hostname"], a["vendor"], a["os"]) for a in assets)


def make_capture(path):
    from scapy.all import Ether, IP, UDP, ICMP, TCP, Raw, fragment, wrpcap
    eth = Ether(src="02:00:00:00:60:0a", dst="02:00:00:00:60:14")
    back = Ether(src="02:00:00:00:60:14", dst="02:00:00:00:60:0a")
    pkts = [eth / IP(src="192.168.60.10", dst="192.168.60.20") / TCP(sport=40000, dport=80, flags="S"),
            back / IP(src="192.168.60.20", dst="192.168.60.10") / TCP(sport=80, dport=40000, flags="SA")]
    # A 3000-byte UDP datagram in three fragments, in order.
    udp = IP(src="192.168.60.10", dst="192.168.60.20", id=0x1111) / UDP(sport=5000, dport=7000) / Raw(b"u" * 3000)
    pkts += [eth / f for f in fragment(udp, fragsize=1400)]
    # A 4000-byte ICMP echo, its fragments in reverse order.
    icmp = IP(src="192.168.60.20", dst="192.168.60.10", id=0x2222) / ICMP(id=7, seq=1) / Raw(b"i" * 4000)
    pkts += [back / f for f in reversed(fragment(icmp, fragsize=1400))]
    # An overlapping set the kernel refuses to reassemble (RFC 5722 style):
    # 0-15 (more), 48-63 (last), then 0-299 (more) over both.
    third = Ether(src="02:00:00:00:60:1e", dst="02:00:00:00:60:14")
    base = dict(src="192.168.60.30", dst="192.168.60.20", id=0x3333, proto=17)
    pkts += [third / IP(flags="MF", frag=0, **base) / Raw(b"a" * 16),
             third / IP(frag=6, **base) / Raw(b"b" * 16),
             third / IP(flags="MF", frag=0, **base) / Raw(b"c" * 300)]
    for i, p in enumerate(pkts):
        p.time = 1700000000 + i * 0.01
    wrpcap(path, pkts)


def packets_per_flow(flows):
    """Packets per (src, dst, protocol, port), summed over intervals (live
    intervals follow the wall clock, offline ones the capture's times)."""
    out = {}
    for f in flows:
        k = (f["src_ip"], f["dst_ip"], f["protocol"], f["dst_port"])
        out[k] = out.get(k, 0) + f["packets"]
    return out


def frames(pcap):
    out = subprocess.run(["capinfos", "-c", "-M", pcap], capture_output=True, text=True, check=True).stdout
    return int(out.strip().split()[-1])


def run():
    t.need("mergecap")
    t.need("capinfos")
    work = t.tmpdir()
    generated = os.path.join(work, "fragments.pcap")
    make_capture(generated)
    parts = [generated]
    shared = os.path.join(t.SHARED_PCAPS, "ipv4-frag", "fragmented-1.pcap")
    if os.path.exists(shared):
        parts.append(shared)
    else:
        print("note: ../shared/pcaps/ipv4-frag/fragmented-1.pcap absent: the generated capture only")
    with Wire("f") as w:
        joined = os.path.join(work, "joined.pcap")
        subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", joined, *parts], check=True, capture_output=True)
        off_assets, off_flows, _ = t.run_sensor(joined, os.path.join(work, "offline"))
        w.start(work, os.path.join(work, "live"), 'driver = "af_packet"')
        for p in parts:
            w.replay(p)
        w.settled_stats()
        c = w.capture_counters()
        live_assets, live_flows, log = w.stop()
    expected = frames(joined)
    t.check(c.get("rx.packets") == expected, "live capture saw %s frames, the replayed captures hold %d" % (
        c.get("rx.packets"), expected))
    t.check("PACKET_FANOUT_FLAG_DEFRAG is set" not in log, "the kernel still reassembles fragments:\n%s" % log)
    t.check(c.get("fragments.tracked", 0) > 0, "no fragment reached the capture: %s" % c)
    t.check(canonical(live_assets) == canonical(off_assets),
            "live inventory differs:\n live %s\n offline %s" % (canonical(live_assets), canonical(off_assets)))
    lp, op = t.flow_pair_bytes(live_flows), t.flow_pair_bytes(off_flows)
    t.check(lp == op, "bytes per pair differ (live, offline): %s" % {
        k: (lp.get(k), op.get(k)) for k in set(lp) | set(op) if lp.get(k) != op.get(k)})
    lpk, opk = packets_per_flow(live_flows), packets_per_flow(off_flows)
    t.check(lpk == opk, "packets per flow differ:\n live %s\n offline %s" % (lpk, opk))
    print("%d captures with IPv4 fragments replayed over veth: %d frames seen live as offline, %d assets and %d "
          "pairs equal the offline run" % (len(parts), expected, len(live_assets), len(op)))


t.main(run)

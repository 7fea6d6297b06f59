"""Live capture counts what the kernel drops. The capture process is stopped
(SIGSTOP) for 3 s during a tcpreplay burst over a veth pair, so the socket
ring of DPDK's net_af_packet overflows. DPDK 22.11 reports no imissed for it;
the kernel's own counters (PACKET_STATISTICS) must show up as drops.kernel,
and every packet tcpreplay sent must be accounted for:

  sent = received by the PMD + drops.kernel + dropped by the veth pair

The last term is what the packet socket never sees, so its counters cannot
include it: a frame the veth pair drops on its way to the sensor's end (the
receive backlog was full). The kernel counts those as tx_dropped of the
sending end (tsb0) and rx_dropped of the receiving end (tsa0); both are read
from /sys before and after the replay."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire

FRAMES = 1000     # distinct frames in the generated capture
LOOPS = 150       # replayed this many times: 150,000 packets
PPS = 30000       # about 5 s of replay; the ring holds 32,768 frames
PAUSE_S = 3.0


def make_capture(path):
    from scapy.all import Ether, IP, UDP, Raw, wrpcap
    pkts = []
    for i in range(FRAMES):
        p = (Ether(src="02:00:00:00:50:0a", dst="02:00:00:00:50:14") /
             IP(src="192.168.50.10", dst="192.168.50.20", id=i) /
             UDP(sport=20000 + i, dport=9999) / Raw(b"x" * 32))
        p.time = 1700000000 + i / 1000.0
        pkts.append(p)
    wrpcap(path, pkts)


def run():
    work = t.tmpdir()
    pcap = os.path.join(work, "burst.pcap")
    make_capture(pcap)
    with Wire("k") as w:
        w.start(work, os.path.join(work, "live"), 'driver = "af_packet"')
        before = {k: w.link_stat(*k) for k in (("wire", "tx_dropped"), ("sensor", "rx_dropped"))}
        replay = w.replay_background(pcap, PPS, LOOPS)
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
        sent = w.sent(replay)
        after = {k: w.link_stat(*k) for k in before}
        c = w.capture_counters()
        stats = w.settled_stats()
        c = w.capture_counters()
        veth = sum(after[k] - before[k] for k in before)
        received = c["port.net_af_packet0.ipackets"]
        drops = c["drops.kernel"]
        assets, flows, log = w.stop()
    t.check(drops > 0, "the ring overflowed during a %.0f s stop, yet drops.kernel is 0:\n%s" % (PAUSE_S, stats))
    t.check(c["port.net_af_packet0.kernel_drops"] == drops, "per-port kernel_drops %d != drops.kernel %d" % (
        c["port.net_af_packet0.kernel_drops"], drops))
    t.check(c["port.net_af_packet0.kernel_packets"] == received + drops,
            "the kernel handed %d frames to the socket, the PMD received %d and the kernel dropped %d" % (
                c["port.net_af_packet0.kernel_packets"], received, drops))
    t.check(c["rx.packets"] == received, "capture dispatched %d of the %d frames the PMD received" % (
        c["rx.packets"], received))
    t.check(received + drops + veth == sent,
            "tcpreplay sent %d; received %d + kernel drops %d + veth drops %d = %d" % (
                sent, received, drops, veth, received + drops + veth))
    t.check("the kernel dropped %d packet(s)" % drops in log, "the log does not report the kernel's drops")
    print("stopped capture for %.0f s during a %d-packet replay: received %d, drops.kernel %d, veth drops %d: "
          "all %d sent packets accounted for" % (PAUSE_S, FRAMES * LOOPS, received, drops, veth, sent))


t.main(run)

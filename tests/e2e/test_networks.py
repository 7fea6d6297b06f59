"""Named networks: the same addresses in two places (the guide's cranes)
are two assets. The test builds its own capture: two cranes with identical
IPs and MACs on VLANs 10 and 20, each talking to its controller; networks
are chosen by VLAN."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

GEN = r'''
import sys
from scapy.all import Ether, Dot1Q, IP, TCP, ARP, wrpcap, Raw
pkts = []
t0 = 1709542800.0
i = 0
for vlan, payload in ((10, 400), (20, 900)):
    for k in range(5):
        for (smac, sip, dmac, dip, sp, dp, flags, n) in (
            ("00:0e:8c:00:00:05", "10.0.0.5", "00:0e:8c:00:00:01", "10.0.0.1", 40000 + k, 102, "S", 0),
            ("00:0e:8c:00:00:01", "10.0.0.1", "00:0e:8c:00:00:05", "10.0.0.5", 102, 40000 + k, "SA", 0),
            ("00:0e:8c:00:00:05", "10.0.0.5", "00:0e:8c:00:00:01", "10.0.0.1", 40000 + k, 102, "PA", payload),
            ("00:0e:8c:00:00:01", "10.0.0.1", "00:0e:8c:00:00:05", "10.0.0.5", 102, 40000 + k, "PA", payload // 2)):
            p = Ether(src=smac, dst=dmac) / Dot1Q(vlan=vlan) / IP(src=sip, dst=dip, ttl=64) / \
                TCP(sport=sp, dport=dp, flags=flags) / Raw(b"x" * n)
            p.time = t0 + i * 0.01
            i += 1
            pkts.append(p)
wrpcap(sys.argv[1], pkts)
'''


def run():
    t.need("tshark")
    work = t.tmpdir()
    pcap = os.path.join(work, "cranes.pcap")
    subprocess.run([t.PYTHON, "-c", GEN, pcap], check=True, capture_output=True)
    cfg = t.write_config(work, """
[[network]]
name = "crane1"
vlans = [10]

[[network]]
name = "crane2"
vlans = [20]

[[internal]]
name = "crane 1"
network = "crane1"
ranges = ["10.0.0.0/24"]

[[internal]]
name = "crane 2"
network = "crane2"
ranges = ["10.0.0.0/24"]
""")
    assets, flows, _ = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
    got = sorted((a["network"], a["ip"], a["mac"]) for a in assets)
    want = sorted((n, ip, mac) for n in ("crane1", "crane2")
                  for ip, mac in (("10.0.0.1", "00:0e:8c:00:00:01"), ("10.0.0.5", "00:0e:8c:00:00:05")))
    t.check(got == want, "assets %s, expected %s" % (got, want))
    # Bytes per network equal tshark's per VLAN.
    for vlan, net in ((10, "crane1"), (20, "crane2")):
        truth = sum(int(r[0]) for r in t.tshark_fields(pcap, "vlan.id == %d" % vlan, ["frame.len"]))
        ours = sum(f["bytes_src_to_dst"] + f["bytes_dst_to_src"] for f in flows if f["network"] == net)
        t.check(ours == truth, "%s: %d bytes in flows, tshark %d" % (net, ours, truth))
        ours_assets = sum(a["bytes_out"] for a in assets if a["network"] == net)
        t.check(ours_assets == truth, "%s: assets sent %d bytes, tshark %d" % (net, ours_assets, truth))
    t.check(all(f["src_ip"] == "10.0.0.5" and f["dst_port"] == 102 for f in flows), "roles: %s" % flows)
    print("two cranes with the same addresses are four assets in two networks; bytes per network agree")


t.main(run)

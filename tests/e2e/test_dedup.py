"""Duplicate suppression: the identical copies a SPAN session of both
directions delivers are dropped and counted, on by default. Checked against
editcap -w (same 1 ms window) on a real capture that holds copies, and on a
capture the test builds with every packet delivered twice; with dedup off,
every frame counts, as tshark counts them."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def dropped(out):
    with open(os.path.join(out, "tapsense.log")) as f:
        m = re.search(r"end of input after \d+ packets; (\d+) duplicate copies dropped", f.read())
    t.check(m, "no duplicate count in the log")
    return int(m.group(1))


def run():
    t.need("tshark")
    work = t.tmpdir()
    # A capture of the project's own, every packet delivered twice 20 us apart.
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    doubled = os.path.join(work, "doubled.pcap")
    subprocess.run([t.PYTHON, "-c", """
import sys
from scapy.all import rdpcap, wrpcap
out = []
for p in rdpcap(sys.argv[1]):
    q = p.copy(); q.time = p.time + 0.00002
    out += [p, q]
wrpcap(sys.argv[2], out)
""", sample, doubled], check=True, capture_output=True)
    for name, pcap in (("doubled sample", doubled), ("1kxun", t.shared_pcap("dhcp/1kxun.pcap"))):
        cfg = t.write_config(work, t.ALL_INTERNAL)
        out = os.path.join(work, "on")
        _, flows, _ = t.run_sensor(pcap, out, config=cfg)
        want = t.editcap_duplicates(pcap)
        t.check(dropped(out) == want, "%s: dropped %d copies, editcap -w finds %d" % (name, dropped(out), want))
        truth = t.tshark_ip_pair_bytes(t.dedup(pcap), dedup=False)
        t.check(t.flow_pair_bytes(flows) == truth, "%s: bytes differ from editcap's deduplicated capture" % name)
        with open(cfg, "a") as f:
            f.write("\n[capture]\ndedup = false\n")
        out = os.path.join(work, "off")
        _, flows, _ = t.run_sensor(pcap, out, config=cfg)
        t.check(dropped(out) == 0, "%s: dedup off still dropped copies" % name)
        t.check(t.flow_pair_bytes(flows) == t.tshark_ip_pair_bytes(pcap, dedup=False),
                "%s: dedup off: bytes differ from tshark" % name)
        print("%s: %d copies dropped, as editcap -w; with dedup off every frame counts" % (name, want))


t.main(run)

"""Live capture: two network namespaces joined by a veth pair, the sensor on
one end (DPDK net_af_packet, promiscuous), tcpreplay of captures into the
other. The inventory (MACs, addresses, hostnames, vendors, OS) and the bytes
per address pair equal those of the same captures read offline."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire


def canonical(assets):
    return sorted((a["mac"], a["ip"], a["hostname"], a["vendor"], a["os"]) for a in assets)


def run():
    t.need("mergecap")
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    parts = [sample]
    for rel in ("tls/chrome.pcap", "mdns/iphone.pcap", "dhcp/dhcp-mud.pcap"):
        p = os.path.join(t.SHARED_PCAPS, rel)
        if os.path.exists(p):
            parts.append(p)
    with Wire("l") as w:
        # Offline reference: the captures one after the other, as they will be replayed.
        joined = os.path.join(work, "joined.pcap")
        subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", joined, *parts], check=True, capture_output=True)
        off_assets, off_flows, _ = t.run_sensor(joined, os.path.join(work, "offline"))
        w.start(work, os.path.join(work, "live"), 'driver = "af_packet"')
        for p in parts:
            w.replay(p)
        live_assets, live_flows, _ = w.stop()
    t.check(canonical(live_assets) == canonical(off_assets),
            "live inventory differs:\n live %s\n offline %s" % (canonical(live_assets), canonical(off_assets)))
    lp, op = t.flow_pair_bytes(live_flows), t.flow_pair_bytes(off_flows)
    t.check(lp == op, "bytes per pair differ: %s" % {k: (lp.get(k), v) for k, v in op.items() if lp.get(k) != v})
    print("live: %d captures replayed through a veth pair: %d assets and %d pairs equal the offline run" % (
        len(parts), len(live_assets), len(op)))


t.main(run)

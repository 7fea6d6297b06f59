"""ERSPAN mode on a live sniffing interface (the guide's "Assigning IP
Addresses to the Appliance Sniffing Interfaces"): the sensor accepts only
GRE/ERSPAN sent to the address configured for the interface. Over a veth
pair we replay the project's sample (plain LAN traffic, not for us) and a
real ERSPAN type I capture whose tunnel ends at the configured address. The
inventory and bytes equal those of the capture's tunnelled frames (tshark's
selection) read offline, and every other packet (the sample, the mirror
network's own OSPF and LLDP) is dropped and counted as not for the address."""
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire


def canonical(assets):
    return sorted(tuple(a[k] or "" for k in ("mac", "ip", "hostname", "vendor", "os")) for a in assets)


def run():
    t.need("tshark")
    erspan = t.shared_pcap("erspan/erspan-type-i-4.pcap")
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    # The tunnel's destination, as tshark decodes the outer IP header.
    ends = collections.Counter(r[0].split(",")[0] for r in t.tshark_fields(erspan, "gre", ["ip.dst"]))
    t.check(len(ends) == 1, "expected one ERSPAN destination, tshark sees %s" % dict(ends))
    address = next(iter(ends))
    # What the interface must refuse: every sample packet, and the frames of
    # the ERSPAN capture that are not tunnelled to that address (the mirror
    # network's own OSPF and LLDP).
    refused = len(t.tshark_fields(sample, "", ["frame.number"]))
    for proto, dst in t.tshark_fields(erspan, "", ["frame.protocols", "ip.dst"]):
        if ":gre" not in proto or dst.split(",")[0] != address:
            refused += 1
    # The offline reference: the tunnelled frames alone, as tshark selects them.
    tunnelled = os.path.join(work, "tunnelled.pcap")
    subprocess.run(["tshark", "-n", "-r", erspan, "-Y", "gre && ip.dst == %s" % address, "-F", "pcap", "-w",
                    tunnelled], check=True, capture_output=True)

    with Wire("e") as w:
        off_assets, off_flows, _ = t.run_sensor(tunnelled, os.path.join(work, "offline"))
        t.check(len(off_assets) > 0, "the ERSPAN capture gives no assets offline")
        # ERSPAN mode as the guide sets it up: the address is assigned to the
        # sniffing interface (the sensor waits for it). A /32 with no route
        # back: the namespace's kernel answers nothing on the wire.
        subprocess.run(["ip", "netns", "exec", w.ns_sensor, "ip", "addr", "add", address + "/32", "dev", "tsa0"],
                       check=True, capture_output=True)
        w.start(work, os.path.join(work, "live"),
                'driver = "af_packet"\nmode = "erspan"\nerspan_address = "%s"' % address)
        w.replay(sample)
        w.replay(erspan)
        stats = w.settled_stats()
        live_assets, live_flows, _ = w.stop()
    m = re.search(r"not_for_erspan_address\D*(\d+)", stats)
    t.check(m is not None, "--stats shows no not_for_erspan_address counter:\n" + stats)
    t.check(int(m.group(1)) == refused, "%s packets dropped as not for %s; tshark counts %d" %
            (m.group(1), address, refused))
    t.check(canonical(live_assets) == canonical(off_assets),
            "ERSPAN-mode inventory differs:\n live %s\n offline %s" % (canonical(live_assets), canonical(off_assets)))
    lp, op = t.flow_pair_bytes(live_flows), t.flow_pair_bytes(off_flows)
    t.check(lp == op, "bytes per pair differ: %s" % {k: (lp.get(k), v) for k, v in op.items() if lp.get(k) != v})
    print("ERSPAN mode (%s): %d packets not for it dropped and counted; %d assets, %d pairs equal the "
          "offline run of the tunnelled frames" % (address, refused, len(live_assets), len(op)))


t.main(run)

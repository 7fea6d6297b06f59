"""status.json's packet_time is the newest packet time in the inventory, also
when nothing but fingerprinter facts is there (issue: `packet_time: null` on a
capture whose only asset has a last_seen): never null while an asset has a
last_seen, never older than any asset's last_seen, and equal to the capture's
last frame time (tshark) where that frame tells something. On dhcp/dhcp.pcap
(shared, skipped when absent) and on a capture the test generates with
nothing but LLDP announcements of two switches."""
import json
import os
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

T0 = 1767225600.25


def epoch(s):
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()


def check(what, pcap, config=None):
    work = t.tmpdir()
    out = os.path.join(work, "out")
    assets, _, _ = t.run_sensor(pcap, out, config=config)
    with open(os.path.join(out, "status.json")) as f:
        status = json.load(f)
    last_frame = max(float(x[0]) for x in t.tshark_fields(pcap, "", ["frame.time_epoch"]))
    t.check(assets, "%s: no asset" % what)
    t.check(status["packet_time"] is not None, "%s: packet_time null with %d assets" % (what, len(assets)))
    pt = epoch(status["packet_time"])
    for a in assets:
        t.check(a["last_seen"] is not None and epoch(a["last_seen"]) <= pt + 1e-6,
                "%s: asset %s last_seen %s after packet_time %s" % (what, a["mac"], a["last_seen"], status["packet_time"]))
    t.check(abs(pt - last_frame) < 1e-5, "%s: packet_time %s, last frame at %.6f" % (what, status["packet_time"], last_frame))
    t.check(status["assets"] == len(assets), "%s: status counts %d assets, assets.json %d" % (what, status["assets"], len(assets)))
    t.check(status["active_assets_1h"] == len(assets), "%s: %d active in the hour" % (what, status["active_assets_1h"]))
    print("%s: packet_time %s, %d assets" % (what, status["packet_time"], len(assets)))


def lldp_only(path):
    from scapy.all import Ether, wrpcap
    from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUManagementAddress, LLDPDUPortID,
                                    LLDPDUSystemName, LLDPDUTimeToLive)
    pkts = []
    # Two switches, half a minute apart: the newest fact is the second one's.
    for dt, mac, last in ((0, "00:1b:54:aa:bb:cc", 2), (30, "00:1b:54:aa:bb:dd", 3)):
        p = (Ether(src=mac, dst="01:80:c2:00:00:0e", type=0x88cc) /
             LLDPDUChassisID(subtype=4, id=mac) / LLDPDUPortID(subtype=5, id="Gi1/0/1") /
             LLDPDUTimeToLive(ttl=120) / LLDPDUSystemName(system_name="access-sw%d" % last) /
             LLDPDUManagementAddress(management_address_subtype=1, management_address=bytes([192, 168, 1, last]),
                                     interface_numbering_subtype=2, interface_number=10101) /
             LLDPDUEndOfLLDPDU())
        p.time = T0 + dt
        pkts.append(p)
    wrpcap(path, pkts)


def run():
    t.need("tshark")
    pcap = os.path.join(t.tmpdir(), "lldp.pcap")
    lldp_only(pcap)
    t.check(not t.tshark_fields(pcap, "ip or ipv6", ["frame.number"]), "generated capture has IP traffic")
    check("LLDP only (generated)", pcap)
    check("dhcp/dhcp.pcap", t.shared_pcap("dhcp/dhcp.pcap"))


t.main(run)

"""DHCP clients in real captures: every MAC and hostname tshark extracts from
DHCP client messages is an asset with that MAC, carrying the hostname as DHCP
evidence (and as its hostname when it sent only one)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

CAPTURES = ["dhcp/dhcp.pcap", "dhcp/dhcp-mud.pcap", "dhcp/1kxun.pcap", "mdns/iphone.pcap"]


def run():
    t.need("tshark")
    checked = 0
    for rel in CAPTURES:
        pcap = t.shared_pcap(rel)
        work = t.tmpdir()
        # Every address inventoried: some of these clients lease public addresses.
        cfg = t.write_config(work, t.ALL_INTERNAL)
        assets, _, _ = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
        by_mac = t.assets_by_mac(assets)
        # BOOTREQUEST messages only: what the client says about itself.
        rows = t.tshark_fields(pcap, "dhcp.type == 1", ["dhcp.hw.mac_addr", "dhcp.option.hostname"])
        names = {}
        for mac, *rest in rows:
            host = rest[0] if rest else ""
            names.setdefault(mac.lower(), set())
            if host:
                names[mac.lower()].add(host)
        t.check(names, "%s: tshark found no DHCP clients" % rel)
        for mac, hosts in names.items():
            t.check(mac in by_mac, "%s: DHCP client %s is not an asset (assets: %s)" % (rel, mac, sorted(by_mac)))
            a = by_mac[mac]
            got = {e["value"] for e in t.evidence(a, "dhcp", "hostname")}
            t.check(got == hosts, "%s: %s hostnames %s, tshark says %s" % (rel, mac, sorted(got), sorted(hosts)))
            if len(hosts) == 1:
                t.check(a["hostname"] == next(iter(hosts)),
                        "%s: %s hostname %r, tshark says %r" % (rel, mac, a["hostname"], next(iter(hosts))))
            checked += 1
        print("%s: %d DHCP clients agree with tshark" % (rel, len(names)))
    t.check(checked > 5, "too few DHCP clients compared (%d)" % checked)


t.main(run)

"""Bytes per pair of IP addresses in flows.json equal tshark's sum of
frame.len over the same capture, both with every address inventoried (each
pair individually) and with the default ranges (outside addresses fold into
the single asset "External"; unassigned, broadcast and multicast addresses keep
theirs, and a host without an address is tracked by its MAC)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

CAPTURES = [
    "dhcp/1kxun.pcap", "mdns/iphone.pcap", "tls/chrome.pcap", "tls/firefox.pcap",
    "tcp-syn-os/sites.pcapng", "tcp-syn-os/passiveosfingerprinting.pcapng",
    "dns/var-services-std-ports.pcap", "http-ua/windowsupdate_over_http.pcap", "ssh/ssh.pcap",
    "bacnet/bacnet_test.pcap", "enip/enip_test.pcap", "ipv4-frag/fragmented-1.pcap",
    "ipv6/ipv6-fragmented-dns.pcap", "vlan/http-vlan-0.pcap", "qinq/http-qinq-0.pcap",
    "nbns/netbios.pcap", "smb-os/smbv1.pcap", "bench/smb3_multichannel.pcap",
]


def compare(rel, ours, truth):
    t.check(truth, "%s: tshark saw no IP traffic" % rel)
    t.check_pairs(rel, ours, truth)


def run():
    t.need("tshark")
    pairs = 0
    for rel in CAPTURES:
        pcap = t.shared_pcap(rel)
        work = t.tmpdir()
        cfg = t.write_config(work, t.ALL_INTERNAL)
        _, flows, _ = t.run_sensor(pcap, os.path.join(work, "all"), config=cfg)
        # Identical copies are dropped by default; editcap -w is the reference.
        truth = t.tshark_ip_pair_bytes(pcap)
        compare(rel + " (all inventoried)", t.flow_pair_bytes(flows), truth)
        pairs += len(truth)

        _, flows, _ = t.run_sensor(pcap, os.path.join(work, "default"))
        truth = t.tshark_tracked_pair_bytes(pcap, t.is_internal)
        if truth:
            compare(rel + " (default ranges)", t.flow_pair_bytes(flows), truth)
        else:
            t.check(not flows, "%s: flows reported though no address is internal" % rel)
        print("%s: byte totals agree with tshark" % rel)
    print("%d address pairs compared" % pairs)


t.main(run)

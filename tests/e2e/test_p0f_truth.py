"""TCP/IP stack verdicts: for every SYN and SYN+ACK p0f -r matches in a
capture, the asset that sent it carries p0f's own label as evidence; and we
claim no verdict p0f does not give."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

CAPTURES = [
    "tcp-syn-os/passiveosfingerprinting.pcapng", "tcp-syn-os/sites.pcapng", "tls/chrome.pcap",
    "tls/firefox.pcap", "dhcp/1kxun.pcap", "mdns/iphone.pcap", "http-ua/windowsupdate_over_http.pcap",
    "ssh/ssh.pcap", "dns/var-services-std-ports.pcap", "vlan/http-vlan-0.pcap", "qinq/http-qinq-0.pcap",
]


def run():
    t.need("p0f")
    compared = 0
    for rel in CAPTURES:
        pcap = t.shared_pcap(rel)
        work = t.tmpdir()
        cfg = t.write_config(work, t.ALL_INTERNAL)
        assets, _, _ = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
        by_ip = t.assets_by_ip(assets)
        want = {}
        for sender, direction, label, raw in t.p0f_verdicts(pcap):
            if label != "???":
                want.setdefault(sender, set()).add(label)
        for ip, labels in want.items():
            t.check(ip in by_ip, "%s: %s sent a SYN p0f recognised, but is not an asset" % (rel, ip))
            got = {e["value"] for e in t.evidence(by_ip[ip], "p0f", "os")}
            t.check(labels <= got, "%s: %s p0f says %s, we have %s" % (rel, ip, sorted(labels), sorted(got)))
            compared += len(labels)
        ours = {e["value"] for a in assets for e in t.evidence(a, "p0f", "os")}
        theirs = set().union(*want.values()) if want else set()
        t.check(ours <= theirs, "%s: verdicts p0f never gave: %s" % (rel, sorted(ours - theirs)))
        print("%s: %d senders, verdicts agree with p0f -r" % (rel, len(want)))
    t.check(compared >= 5, "too few p0f verdicts compared (%d)" % compared)


t.main(run)

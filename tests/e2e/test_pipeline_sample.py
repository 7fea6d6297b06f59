"""The whole pipeline on the project's own sample capture (no ../shared
needed): every DHCP client's MAC and hostname as tshark reads them, vendors
from the IEEE registry, p0f -r's verdict for every client SYN, bytes per
address pair equal to tshark's, each device's OS family and type as the
generator's truth.json says it put them in (CDP/LLDP banners, DHCP, User-
Agents, mDNS, SSDP), the NAT flag exactly where tshark sees several TCP TTLs
from one address, and the table printer shows every device."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def tsc_frequency(out):
    """Capture shortens EAL's TSC calibration to 10 ms (capture/eal_timer.cpp):
    the frequency it logs must still be the TSC's. Where the kernel took that
    frequency from the CPU or hypervisor (flag tsc_known_freq) and reports it
    as "cpu MHz" (no APERF/MPERF to report a varying clock instead), the two
    agree within EAL's 10 MHz rounding."""
    with open(os.path.join(out, "tapsense.log")) as f:
        said = re.findall(r"TSC (\d+) MHz", f.read())
    t.check(len(said) == 1, "capture's log names the TSC frequency once: %s" % said)
    with open("/proc/cpuinfo") as f:
        info = f.read()
    flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split())
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)
    if said and mhz and "tsc_known_freq" in flags and "aperfmperf" not in flags:
        t.check(abs(int(said[0]) - float(mhz.group(1))) <= 10,
                "TSC %s MHz in capture's log, %s MHz by the kernel" % (said[0], mhz.group(1)))
        print("TSC frequency: %s MHz, the kernel's %s MHz" % (said[0], mhz.group(1)))
    else:
        print("TSC frequency: %s MHz (the kernel names no fixed TSC frequency to compare with)" % said)


def run():
    t.need("tshark")
    work = t.tmpdir()
    pcap = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), pcap], check=True,
                   capture_output=True)
    out = os.path.join(work, "out")
    assets, flows, p = t.run_sensor(pcap, out)
    by_mac = t.assets_by_mac(assets)
    tsc_frequency(out)

    # DHCP identity, as tshark reads it.
    rows = t.tshark_fields(pcap, "dhcp.type == 1 && dhcp.option.hostname", ["dhcp.hw.mac_addr", "dhcp.option.hostname"])
    t.check(len(rows) >= 4, "sample has too few DHCP clients for this test")
    for mac, host in rows:
        t.check(mac in by_mac, "DHCP client %s is not an asset" % mac)
        t.check(by_mac[mac]["hostname"] == host, "%s: hostname %r, tshark %r" % (mac, by_mac[mac]["hostname"], host))

    # Every asset with a MAC has the IEEE organisation of its prefix: the
    # registry's text in its oui evidence, `vendor` the brand as people write
    # it (issue 11: "TP-LINK TECHNOLOGIES CO.,LTD." is "TP-Link"), a word
    # prefix of the registry's text for the sample's vendors.
    oui = {}
    with open("/usr/share/ieee-data/oui.csv", encoding="utf-8", errors="replace") as f:
        import csv
        for r in csv.reader(f):
            if len(r) >= 3 and r[0] == "MA-L":
                oui[r[1].lower()] = r[2].strip()
    for a in assets:
        if a["mac"]:
            want = oui.get(a["mac"].replace(":", "")[:6])
            have = {e["value"] for e in t.evidence(a, "oui", "vendor")}
            t.check(want in have, "%s: oui evidence %s, registry %r" % (a["mac"], sorted(have), want))
            t.check(a["vendor"] and want.lower().startswith(a["vendor"].lower()),
                    "%s: vendor %r, registry %r" % (a["mac"], a["vendor"], want))

    # p0f verdicts of the clients' SYNs.
    by_ip = t.assets_by_ip(assets)
    n = 0
    for sender, direction, label, raw in t.p0f_verdicts(pcap):
        if label == "???" or not t.is_internal(sender):
            continue
        t.check(sender in by_ip, "%s sent a SYN but is not an asset" % sender)
        got = {e["value"] for e in t.evidence(by_ip[sender], "p0f", "os")}
        t.check(label in got, "%s: p0f says %r, we have %s" % (sender, label, sorted(got)))
        n += 1
    t.check(n >= 4, "too few p0f verdicts compared (%d)" % n)

    # Bytes per address pair.
    truth = t.tshark_tracked_pair_bytes(pcap, t.is_internal)
    ours = t.flow_pair_bytes(flows)
    t.check(ours == truth, "bytes per pair differ: %s" % {k: (ours.get(k), v) for k, v in truth.items() if ours.get(k) != v})

    # Asset byte counters add up to what the flows say each address moved.
    for a in assets:
        for ip in a["ips"]:
            sent = sum(f["bytes_src_to_dst"] for f in flows if f["src_ip"] == ip) + \
                   sum(f["bytes_dst_to_src"] for f in flows if f["dst_ip"] == ip)
            t.check(a["bytes_out"] >= sent, "%s: bytes_out %d < %d in its flows" % (ip, a["bytes_out"], sent))

    # Inference: OS family and device type of each device, as put in.
    with open(os.path.join(work, "sample.truth.json")) as f:
        truth = json.load(f)
    inferred = 0
    for d in truth["devices"]:
        a = by_mac.get(d["mac"])
        t.check(a is not None, "%s (%s) is not an asset" % (d["hostname"], d["mac"]))
        for field in ("os_family", "device_type"):
            if a is not None and field in d:
                t.check(a[field] == d[field], "%s: %s %r, truth %r" % (d["hostname"], field, a[field], d[field]))
                inferred += 1
    t.check(inferred >= 12, "too few inferred fields compared (%d)" % inferred)

    # NAT: an address whose TCP packets carry several TTLs (tshark's count)
    # is flagged, no other; the generator put one NAT box in.
    tcp_ttls = {}
    for src, ttl in t.tshark_fields(pcap, "tcp && ip", ["ip.src", "ip.ttl"]):
        tcp_ttls.setdefault(src, set()).add(ttl)
    nat = 0
    for a in assets:
        want = any(len(tcp_ttls.get(ip, ())) > 1 for ip in a["ips"])
        t.check(a["nat"] == want, "%s: nat %r, tshark sees TCP TTLs %s" %
                (a["ip"], a["nat"], {ip: sorted(tcp_ttls.get(ip, ())) for ip in a["ips"]}))
        nat += want
    for d in truth["devices"]:
        a = by_mac.get(d["mac"])
        t.check(a is not None and a["nat"] == d["nat"], "%s: nat %r, truth %r" %
                (d["ip"], a and a["nat"], d["nat"]))
    t.check(nat == 1, "the sample's NAT box: %d addresses flagged by tshark's TTLs" % nat)

    # A rerun into the same directory starts afresh: with ECS off, no stale
    # flows.ecs.jsonl from the first run is left behind; the rest is equal.
    t.check(os.path.exists(os.path.join(out, "flows.ecs.jsonl")), "no flows.ecs.jsonl by default")
    cfg = t.write_config(work, "[uplink]\necs = false\n")
    again, again_flows, _ = t.run_sensor(pcap, out, config=cfg)
    t.check(not os.path.exists(os.path.join(out, "flows.ecs.jsonl")), "a stale flows.ecs.jsonl survived the rerun")
    t.check(again == assets and again_flows == flows, "a rerun into the same directory gives other outputs")

    table = subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "show-assets.py"),
                            os.path.join(out, "assets.json")], capture_output=True, text=True, check=True).stdout
    for a in assets:
        t.check(a["ip"] in table, "table lacks %s" % a["ip"])
    print("%d assets, %d flows, %d p0f verdicts agree, %d inferred fields agree, %d NAT address" %
          (len(assets), len(flows), n, inferred, nat))


t.main(run)

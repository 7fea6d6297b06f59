"""Addresses that belong to no one (README, Asset classes): 0.0.0.0 and ::
are `unassigned`, 255.255.255.255 and subnet-directed broadcasts `broadcast`,
224.0.0.0/4 and ff00::/8 `multicast`. They are never External and never
assets; a host sending from 0.0.0.0 (a DHCP client) is tracked under its MAC
(flows.json `src_mac`, flows.ecs.jsonl `source.mac`) and its messages count as
its asset's client traffic in traffic.json. Truth: tshark on the bundled
sample and on shared DHCP captures."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def unassigned_truth(pcap):
    """(address, source MAC) -> bytes of frames sent from 0.0.0.0 or ::."""
    out = {}
    for src, _, length, _, esrc in t.innermost_ip_rows(pcap, ["eth.src"]):
        if t.special_class(src) == "unassigned":
            k = (src, esrc.split(",")[-1])
            out[k] = out.get(k, 0) + length
    return out


def check_outputs(what, pcap, out, assets, flows, inventoried):
    # Bytes per pair of sides, by the README's rules on tshark's packets.
    truth = t.tshark_tracked_pair_bytes(pcap, inventoried)
    ours = t.flow_pair_bytes(flows)
    t.check(ours == truth, "%s: pairs differ: %s; extra %s" % (
        what, {k: (ours.get(k), v) for k, v in truth.items() if ours.get(k) != v},
        {k: v for k, v in ours.items() if k not in truth}))
    # A host without an address: its bytes, per MAC, as tshark counts them.
    want = unassigned_truth(pcap)
    t.check(want, "%s: tshark saw nothing sent from 0.0.0.0 or ::" % what)
    got = {}
    for f in flows:
        if f["src_class"] == "unassigned":
            t.check(f["src_mac"], "%s: unassigned client without its MAC: %s" % (what, f))
            k = (f["src_ip"], f["src_mac"])
            got[k] = got.get(k, 0) + f["bytes_src_to_dst"]
        else:
            t.check(f["src_mac"] is None, "%s: src_mac on a %s client: %s" % (what, f["src_class"], f))
        for side, cls in (("src_ip", "src_class"), ("dst_ip", "dst_class")):
            if f[side] in ("External", "Excluded"):
                continue
            special = t.special_class(f[side], source=(side == "src_ip"))
            if special:
                t.check(f[cls] == special, "%s: %s is %s, not %s" % (what, f[side], f[cls], special))
            elif f[cls] == "broadcast":
                t.check(f[side].count(".") == 3, "%s: %s broadcast" % (what, f[side]))
    t.check(got == want, "%s: bytes from unassigned addresses per MAC: ours %s, tshark %s" % (what, got, want))
    # Never an asset.
    for a in assets:
        for ip in a["ips"]:
            t.check(t.special_class(ip, source=True) is None, "%s: %s is an asset (%s)" % (what, ip, a["mac"]))
    # ECS: the MAC in ECS notation on the same records.
    ecs = []
    with open(os.path.join(out, "flows.ecs.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            if "mac" in d["source"]:
                ecs.append((d["source"]["ip"], d["source"]["mac"].replace("-", ":").lower(), d["source"]["bytes"]))
    mine = sorted((f["src_ip"], f["src_mac"], f["bytes_src_to_dst"]) for f in flows if f["src_mac"])
    t.check(sorted(ecs) == mine, "%s: ECS source.mac %s, flows %s" % (what, sorted(ecs)[:3], mine[:3]))
    return want


def scenario_sample():
    work = t.tmpdir()
    pcap = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), pcap], check=True,
                   capture_output=True)
    out = os.path.join(work, "out")
    assets, flows, _ = t.run_sensor(pcap, out)
    want = check_outputs("sample", pcap, out, assets, flows, t.is_internal)
    # The picture is gone: no DHCP flow from External to the router.
    t.check(not [f for f in flows if f["src_ip"] == "External" and f["dst_port"] == 67],
            "sample: a DHCP flow from External remains")
    # traffic.json: a DHCP client's egress to port 67 (from 0.0.0.0 or its
    # address) is its own, as tshark counts the frames its MAC sent there.
    with open(os.path.join(out, "traffic.json")) as f:
        traffic = {a["mac"]: a for a in json.load(f) if a["mac"]}
    dhcp_out = {}
    for mac, length in t.tshark_fields(pcap, "udp.dstport == 67", ["eth.src", "frame.len"]):
        dhcp_out[mac] = dhcp_out.get(mac, 0) + int(length)
    checked = 0
    for (_, mac) in want:
        t.check(mac in traffic, "sample: DHCP client %s has no traffic.json entry" % mac)
        egress = sum(x["egress"] for x in traffic[mac]["traffic"]
                     if x["role"] == "client" and x["service"] in ("DHCP", "udp/67"))
        t.check(egress == dhcp_out[mac], "sample: %s DHCP egress %d, tshark %d" % (mac, egress, dhcp_out[mac]))
        checked += 1
    t.check(checked >= 4, "sample: too few DHCP clients (%d)" % checked)
    print("sample: %d DHCP clients' bytes from 0.0.0.0 are theirs in flows and traffic.json" % checked)


def scenario_shared():
    for rel in ("dhcp/dhcp.pcap", "dhcp/1kxun.pcap", "mdns/iphone.pcap"):
        pcap = t.shared_pcap(rel)
        work = t.tmpdir()
        for name, cfg, inv in (("default", None, t.is_internal),
                               ("all", t.write_config(work, t.ALL_INTERNAL), lambda ip: True)):
            out = os.path.join(work, name)
            assets, flows, _ = t.run_sensor(pcap, out, config=cfg)
            want = check_outputs("%s (%s)" % (rel, name), pcap, out, assets, flows, inv)
        print("%s: %d unassigned senders by MAC agree with tshark" % (rel, len(want)))


def run():
    t.need("tshark")
    scenario_sample()
    scenario_shared()


t.main(run)

"""Asset classes and their precedence, on real captures with configurations
that put known addresses in each class. The expected records come from an
independent model of the guide's rules applied to tshark's view of every
packet (addresses, MACs, frame.len):
  excluded (IP or MAC) > unassigned, broadcast, multicast (addresses of no one)
  > inventoried > non-inventoried > monitored external > external;
  flows are tracked when a side is inventoried or the client is unassigned
  (0.0.0.0, ::) with a MAC; External and Excluded sides are reported without
  their address; nothing about an excluded asset is kept."""
import ipaddress
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def nets(ranges):
    out = []
    for r in ranges:
        if "-" in r:
            a, b = r.split("-")
            out += list(ipaddress.summarize_address_range(ipaddress.ip_address(a), ipaddress.ip_address(b)))
        else:
            out.append(ipaddress.ip_network(r))
    return out


class Model:
    def __init__(self, inventoried, non_inventoried, excluded, excluded_macs, monitored):
        self.inv = nets(inventoried)
        self.non = nets(non_inventoried)
        self.exc = nets(excluded)
        self.exc_macs = set(excluded_macs)
        self.mon = [(name, nets(addrs)) for name, addrs in monitored]

    @staticmethod
    def inside(ip, ns):
        a = ipaddress.ip_address(ip)
        return any(a.version == n.version and a in n for n in ns)

    def classify(self, ip, mac, source=False):
        if self.inside(ip, self.exc) or mac in self.exc_macs:
            return "excluded", None
        special = t.special_class(ip, "" if source else (mac or ""), source)
        if special:
            return special, None
        if self.inside(ip, self.inv):
            return "inventoried", None
        if self.inside(ip, self.non):
            return "non_inventoried", None
        for name, ns in self.mon:
            if self.inside(ip, ns):
                return "monitored_external", name
        return "external", None

    def side(self, ip, mac, source):
        cls, name = self.classify(ip, mac, source)
        text = {"external": "External", "excluded": "Excluded"}.get(cls, ip)
        return text, cls, name

    def expected_pairs(self, pcap):
        pairs = {}
        self.broadcast_dsts = {"255.255.255.255"}
        self.unassigned_macs = {}
        rows = t.innermost_ip_rows(pcap, ["eth.src", "eth.dst"])
        for src, dst, length, _, esrc, edst in rows:
            esrc, edst = esrc.split(",")[-1], edst.split(",")[-1]  # innermost Ethernet
            a = self.side(src, esrc, True)
            b = self.side(dst, edst, False)
            if b[1] == "broadcast":
                self.broadcast_dsts.add(dst)
            # A host without an address is tracked by its (unicast) MAC.
            unassigned = (a[1] == "unassigned" and b[1] != "excluded" and esrc != "00:00:00:00:00:00"
                          and int(esrc[:2], 16) & 1 == 0)
            if unassigned:
                self.unassigned_macs.setdefault(src, set()).add(esrc)
            if a[1] != "inventoried" and b[1] != "inventoried" and not unassigned:
                continue
            key = tuple(sorted((a[0], b[0])))
            pairs[key] = pairs.get(key, 0) + length
        return pairs


def check_common(what, model, pcap, out, assets, flows):
    # Bytes per pair, classes and names of every flow.
    truth = model.expected_pairs(pcap)
    ours = t.flow_pair_bytes(flows)
    diff = {k: (ours.get(k), v) for k, v in truth.items() if ours.get(k) != v}
    extra = {k: v for k, v in ours.items() if k not in truth}
    t.check(not diff and not extra, "%s: pairs differ from the model on tshark's packets: %s; extra %s" % (
        what, list(diff.items())[:4], list(extra.items())[:4]))
    for f in flows:
        for side, cls, name in (("src_ip", "src_class", "src_name"), ("dst_ip", "dst_class", "dst_name")):
            v = f[side]
            if f[cls] == "external":
                t.check(v == "External", "%s: external side shown as %r" % (what, v))
            elif f[cls] == "excluded":
                t.check(v == "Excluded", "%s: excluded side shown as %r" % (what, v))
            elif f[cls] == "broadcast":
                # 255.255.255.255, or an address tshark saw sent to ff:ff:ff:ff:ff:ff.
                t.check(v in model.broadcast_dsts, "%s: %s is broadcast, tshark never saw it so" % (what, v))
            else:
                want_cls, want_name = model.classify(v, None)
                if want_cls == "multicast" and f[cls] != "multicast":
                    # A group address that also sent packets (bogus, but in
                    # anonymised captures): the ranges apply to it as a sender.
                    want_cls, want_name = model.classify(v, None, True)
                t.check(want_cls == f[cls], "%s: %s is %s, the rules say %s" % (what, v, f[cls], want_cls))
                t.check(want_name == f[name], "%s: %s named %r, expected %r" % (what, v, f[name], want_name))
        if f["src_class"] == "unassigned":
            t.check(f["src_mac"] in model.unassigned_macs.get(f["src_ip"], ()),
                    "%s: unassigned client %s with MAC %r, tshark saw %s" % (
                        what, f["src_ip"], f["src_mac"], model.unassigned_macs.get(f["src_ip"])))
        t.check(f["src_class"] == "inventoried" or f["dst_class"] == "inventoried" or
                (f["src_class"] == "unassigned" and f["src_mac"]),
                "%s: flow without an inventoried side or an unassigned client: %s" % (what, f))
    # Assets: inventoried addresses only.
    for a in assets:
        t.check(a["class"] == "inventoried", "%s: asset class %r" % (what, a["class"]))
        for ip in a["ips"]:
            cls, _ = model.classify(ip, a["mac"], True)
            t.check(cls == "inventoried", "%s: %s (%s) is an asset but %s" % (what, ip, a["mac"], cls))
    return truth


def forbidden(what, out, needles):
    """Nothing about excluded assets is kept: not in any output, not in the inventory."""
    for name in ("assets.json", "flows.json", "traffic.json", "flows.ecs.jsonl", "status.json"):
        with open(os.path.join(out, name)) as f:
            text = f.read()
        for n in needles:
            t.check(n not in text, "%s: %s mentions excluded %s" % (what, name, n))
    db = sqlite3.connect(os.path.join(out, "inventory.sqlite"))
    for n in needles:
        if ":" in n and len(n) == 17:
            mac = int(n.replace(":", ""), 16)
            for table in ("observations", "bindings"):
                c = db.execute("SELECT count(*) FROM %s WHERE mac = ?" % table, (mac,)).fetchone()[0]
                t.check(c == 0, "%s: inventory.%s holds %d rows about excluded %s" % (what, table, c, n))
        else:
            blob = ipaddress.ip_address(n).packed
            if len(blob) == 4:
                blob = b"\0" * 10 + b"\xff\xff" + blob
            for table, col in (("observations", "ip"), ("bindings", "ip"), ("ip_sightings", "ip"),
                               ("flows", "client"), ("flows", "server")):
                c = db.execute("SELECT count(*) FROM %s WHERE %s = ?" % (table, col), (blob,)).fetchone()[0]
                t.check(c == 0, "%s: inventory.%s holds %d rows about excluded %s" % (what, table, c, n))


def scenario_office():
    pcap = t.shared_pcap("dhcp/1kxun.pcap")
    work = t.tmpdir()
    cfg = t.write_config(work, """
[[internal]]
name = "office"
ranges = ["192.168.115.0/24", "192.168.2.0/24", "192.168.5.16"]

[[internal]]
name = "branch"
inventory = false
ranges = ["192.168.5.0/24", "192.168.119.0/24"]

[[excluded]]
name = "lab"
ranges = ["192.168.115.75"]
macs = ["9C:B6:D0:D3:E3:33"]

[[monitored]]
name = "cdn"
addresses = ["106.187.35.246"]
""")
    out = os.path.join(work, "out")
    assets, flows, _ = t.run_sensor(pcap, out, config=cfg)
    model = Model(["192.168.115.0/24", "192.168.2.0/24", "192.168.5.16"], ["192.168.5.0/24", "192.168.119.0/24"],
                  ["192.168.115.75"], ["9c:b6:d0:d3:e3:33"], [("cdn", ["106.187.35.246"])])
    truth = check_common("office", model, pcap, out, assets, flows)
    by_ip = t.assets_by_ip(assets)
    # Inventoried, keyed by MAC.
    t.check("192.168.115.8" in by_ip and by_ip["192.168.115.8"]["mac"] == "00:1c:42:8e:70:31",
            "office: 192.168.115.8 is not an asset with its MAC")
    # Inventoried wins over non-inventoried.
    t.check("192.168.5.16" in by_ip, "office: 192.168.5.16 (inventoried and non-inventoried) is not an asset")
    # Excluded wins over inventoried; shown as Excluded.
    t.check(("192.168.5.16", "Excluded") in truth, "office: the capture lost its excluded conversation")
    # Monitored by address: reported individually with its name.
    mon = [f for f in flows if f["dst_ip"] == "106.187.35.246"]
    t.check(mon and all(f["dst_name"] == "cdn" and f["dst_class"] == "monitored_external" for f in mon),
            "office: monitored site flows %s" % mon[:1])
    t.check("106.187.35.246" not in by_ip, "office: a monitored site became an asset")
    # Non-inventoried: flows to inventoried assets keep the address, no asset.
    t.check(any(f["src_class"] == "non_inventoried" or f["dst_class"] == "non_inventoried" for f in flows),
            "office: no non-inventoried side in any flow")
    t.check(not any(ip.startswith("192.168.119.") for ip in by_ip), "office: non-inventoried address inventoried")
    forbidden("office", out, ["192.168.115.75", "192.168.2.126", "9c:b6:d0:d3:e3:33"])
    print("office: %d pairs agree with the rules on tshark's packets; excluded assets left no trace" % len(truth))


def scenario_lab():
    pcap = t.shared_pcap("dns/var-services-std-ports.pcap")
    work = t.tmpdir()
    cfg = t.write_config(work, """
[[internal]]
name = "servers"
ranges = ["172.16.238.131"]

[[internal]]
name = "lab"
inventory = false
ranges = ["172.16.238.0/24"]

[[monitored]]
name = "lab-gw"
addresses = ["172.16.238.2", "141.142.192.39"]
""")
    out = os.path.join(work, "out")
    assets, flows, _ = t.run_sensor(pcap, out, config=cfg)
    model = Model(["172.16.238.131"], ["172.16.238.0/24"], [], [], [("lab-gw", ["172.16.238.2", "141.142.192.39"])])
    truth = check_common("lab", model, pcap, out, assets, flows)
    # Non-inventoried wins over monitored: 172.16.238.2 keeps its address, no site name.
    two = [f for f in flows if "172.16.238.2" in (f["src_ip"], f["dst_ip"])]
    t.check(two and all("monitored_external" not in (f["src_class"], f["dst_class"]) for f in two),
            "lab: 172.16.238.2 should be non-inventoried, not monitored: %s" % two[:1])
    mon = [f for f in flows if "141.142.192.39" in (f["src_ip"], f["dst_ip"])]
    t.check(mon and all("lab-gw" in (f["src_name"], f["dst_name"]) for f in mon), "lab: monitored site missing")
    t.check(set(t.assets_by_ip(assets)) == {"172.16.238.131"}, "lab: assets %s" % sorted(t.assets_by_ip(assets)))
    print("lab: %d pairs agree; non-inventoried ranks above monitored" % len(truth))


def scenario_overlap_warning():
    pcap = t.shared_pcap("dns/var-services-std-ports.pcap")
    work = t.tmpdir()
    cfg = t.write_config(work, """
[[internal]]
name = "first"
ranges = ["172.16.0.0/12"]

[[internal]]
name = "second"
ranges = ["172.16.238.0/24"]
""")
    _, _, p = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
    warn = [l for l in p.stderr.split("\n") if "overlap" in l]
    t.check(len(warn) == 1 and "'first'" in warn[0] and "'second'" in warn[0] and "'first' wins" in warn[0],
            "overlap warning: %r" % p.stderr)
    print("overlap: %s" % warn[0])


def scenario_bad_config():
    work = t.tmpdir()
    for text, line, what in (
            ('[[excluded]]\nname = "x"\nmacs = ["00:11:22:33:44"]\n', 3, "MAC"),
            ('[[excluded]]\nname = "x"\nranges = ["10.0.0.1-10.0.0"]\n', 3, "range"),
            ('[[monitored]]\nname = "x"\ndomains = ["bad domain"]\n', 3, "domain"),
            ('[[internal]]\nname = "x"\nranges = ["10.0.0.0/8"]\nnetwork = "nowhere"\n', 1, "network")):
        cfg = t.write_config(work, text)
        _, _, p = t.run_sensor("/dev/null", os.path.join(work, "o"), config=cfg, expect_rc=78)
        t.check(":%d:" % line in p.stderr, "bad %s: %r lacks line %d" % (what, p.stderr, line))
    print("malformed MACs, ranges, domains and networks are refused with line and column")


def run():
    t.need("tshark")
    scenario_office()
    scenario_lab()
    scenario_overlap_warning()
    scenario_bad_config()


t.main(run)

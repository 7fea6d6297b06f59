"""Monitored external sites named by domain: a connection is to the site
when its TLS SNI or HTTP Host names it, or when it starts while a DNS answer
the sensor saw (through CNAME chains, within the record's TTL) maps its
server address to the site. Those flows are reported individually with the
site's name and address; everything else outside stays External. Truth from
tshark: SNI/Host per connection, DNS answers per packet, bytes per
connection."""
import collections
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

SITES = {"apple": ["*.icloud.com", "*.apple.com"], "cnr": ["www.iit.cnr.it"]}


def site_of(name):
    name = name.lower().rstrip(".")
    for site, domains in SITES.items():
        for d in domains:
            if name == d or (d.startswith("*.") and (name.endswith(d[1:]) or name == d[2:])):
                return site
    return None


def dns_bindings(pcap):
    """(address, from, until, site) for every matching DNS answer."""
    out = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "dns.flags.response == 1 && udp.srcport == 53",
                          "-T", "json"], capture_output=True, text=True).stdout
    res = []
    for pkt in json.loads(out or "[]"):
        layers = pkt["_source"]["layers"]
        ts = float(layers["frame"]["frame.time_epoch"])
        dns = layers.get("dns", {})
        names = {}
        for q in (dns.get("Queries") or {}).values():
            s = site_of(q.get("dns.qry.name", ""))
            if s:
                names[q["dns.qry.name"].lower()] = s
        answers = [a for a in (dns.get("Answers") or {}).values() if isinstance(a, dict)]
        for _ in range(8):
            for a in answers:
                if a.get("dns.cname") and a.get("dns.resp.name", "").lower() in names:
                    names.setdefault(a["dns.cname"].lower(), names[a["dns.resp.name"].lower()])
        for a in answers:
            addr = a.get("dns.a") or a.get("dns.aaaa")
            owner = a.get("dns.resp.name", "").lower()
            s = names.get(owner) or site_of(owner)
            if addr and s:
                res.append((addr, ts, ts + int(a.get("dns.resp.ttl", "0")), s))
    return res


def run():
    t.need("tshark")
    for rel in ("mdns/iphone.pcap", "tls/chrome.pcap"):
        pcap = t.shared_pcap(rel)
        work = t.tmpdir()
        text = "[capture]\ndedup = false\n"
        for site, domains in SITES.items():
            text += '\n[[monitored]]\nname = "%s"\ndomains = %s\n' % (site, json.dumps(domains))
        cfg = t.write_config(work, text)
        _, flows, _ = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)

        # Connections: first packet time, client, server, bytes, SNI/Host.
        conns = {}
        for r in t.tshark_fields(pcap, "tcp || udp", ["tcp.stream", "udp.stream", "frame.time_epoch", "ip.src",
                                                      "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport",
                                                      "udp.dstport", "frame.len", "tcp.flags.syn", "tcp.flags.ack",
                                                      "tls.handshake.extensions_server_name", "http.host"]):
            r += [""] * (14 - len(r))
            key = ("tcp", r[0]) if r[0] else ("udp", r[1])
            if not r[3]:
                continue
            c = conns.setdefault(key, {"start": float(r[2]), "a": r[3], "b": r[4], "bytes": 0, "name": None,
                                       "client": None})
            c["bytes"] += int(r[9])
            if r[10] == "1" and r[11] == "0":
                c["client"] = r[3]
            if r[12] and c["name"] is None:
                c["name"], c["server"] = r[12], r[4]
            if r[13] and c["name"] is None:
                c["name"], c["server"] = r[13].split(":")[0], r[4]
        binds = dns_bindings(pcap)
        want = collections.Counter()
        for c in conns.values():
            for server in (c["b"], c["a"]):
                if t.is_internal(server):
                    continue
                s = site_of(c["name"]) if c["name"] and c.get("server") == server else None
                if s is None:
                    s = next((b[3] for b in binds if b[0] == server and b[1] <= c["start"] <= b[2]), None)
                if s:
                    want[(server, s)] += c["bytes"]
        got = collections.Counter()
        for f in flows:
            for side, name, cls in (("dst_ip", "dst_name", "dst_class"), ("src_ip", "src_name", "src_class")):
                if f[cls] == "monitored_external":
                    got[(f[side], f[name])] += f["bytes_src_to_dst"] + f["bytes_dst_to_src"]
        t.check(want, "%s: the capture has no connection to a monitored site" % rel)
        diff = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
        extra = {k: v for k, v in got.items() if k not in want}
        t.check(not diff and not extra, "%s: monitored sites differ: %s; extra %s" % (rel, diff, extra))
        print("%s: %d monitored addresses by DNS, SNI and Host; bytes agree with tshark" % (rel, len(want)))


t.main(run)

"""Capture files that are not Ethernet: the project's own sample
(deploy/make-sample.py) rewritten as Linux cooked v1 (SLL, what
`tcpdump -i any` writes), cooked v2 (SLL2) and raw IP gives, per pair of IP
addresses, the bytes tshark counts on each rewritten file, and the same
asset addresses as the Ethernet original (with the source MACs SLL carries).
A radiotap file is refused with one line naming its link type, a gzip file
with one line telling to decompress it; both exit 1 before any stage runs.

The rewriting is done here byte by byte (a header per record, nothing else
touched); tshark, not the sensor, is the judge of what the files hold."""
import gzip
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    t.check(magic in (0xa1b2c3d4, 0xa1b23c4d), "%s: not a little-endian classic pcap" % path)
    t.check(struct.unpack("<I", data[20:24])[0] == 1, "%s: not Ethernet" % path)
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        recs.append((sec, frac, orig, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return data[:20], recs


def write_pcap(path, header, linktype, recs):
    with open(path, "wb") as f:
        f.write(header + struct.pack("<I", linktype))
        for sec, frac, orig, frame in recs:
            f.write(struct.pack("<IIII", sec, frac, len(frame), orig) + frame)


def eth_parts(frame):
    """(source MAC, protocol, payload) the way Linux hands a frame to a
    cooked socket: 802.3 frames become protocol 0x0004 (802.2 LLC)."""
    src, etype = frame[6:12], struct.unpack(">H", frame[12:14])[0]
    if etype < 0x0600:
        return src, 0x0004, frame[14:14 + etype]
    return src, etype, frame[14:]


def to_sll(frame, outgoing=False):
    src, proto, payload = eth_parts(frame)
    return struct.pack(">HHH", 4 if outgoing else 0, 1, 6) + src + b"\0\0" + struct.pack(">H", proto) + payload


def to_sll2(frame):
    src, proto, payload = eth_parts(frame)
    return struct.pack(">HHIHBB", proto, 0, 2, 1, 0, 6) + src + b"\0\0" + payload


def to_raw(frame):
    _, proto, payload = eth_parts(frame)
    return payload if proto in (0x0800, 0x86dd) else None


def convert(header, recs, fn, extra_len):
    out = []
    for sec, frac, orig, frame in recs:
        f = fn(frame)
        if f is not None:
            out.append((sec, frac, max(orig + extra_len(frame, f), len(f)), f))
    return out


def asset_ips(assets):
    return set(t.assets_by_ip(assets))


def refused(work, path, needles):
    _, _, p = t.run_sensor(path, os.path.join(work, "out-" + os.path.basename(path)), expect_rc=1)
    lines = [l for l in p.stderr.split("\n") if l.strip()]
    t.check(len(lines) == 1, "%s: expected one line on stderr, got %r" % (path, p.stderr))
    for n in needles:
        t.check(n in lines[0], "%s: %r not in %r" % (path, n, lines[0]))
    t.check(not os.path.exists(os.path.join(work, "out-" + os.path.basename(path), "flows.json")),
            "%s: a refused file left output" % path)


def run():
    t.need("tshark")
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    header, recs = read_pcap(sample)
    cfg = t.write_config(work, t.ALL_INTERNAL)
    eth_assets, eth_flows, _ = t.run_sensor(sample, os.path.join(work, "eth"), config=cfg)
    eth_macs = {ip: a.get("mac") for ip, a in t.assets_by_ip(eth_assets).items()}

    # Odd records of the SLL file are "outgoing" (the capturing host's own
    # MAC is then the source): the header says so, the address is the same.
    sll_recs = [(s, f, o, to_sll(fr, outgoing=i % 2 == 1)) for i, (s, f, o, fr) in enumerate(recs)]
    sll_recs = [(s, f, max(o + len(x) - len(fr), len(x)), x) for (s, f, o, x), (_, _, _, fr) in zip(sll_recs, recs)]
    variants = {
        "sll": (113, sll_recs, True),
        "sll2": (276, convert(header, recs, to_sll2, lambda fr, x: len(x) - len(fr)), True),
        "raw": (101, convert(header, recs, to_raw, lambda fr, x: len(x) - len(fr)), False),
    }
    for name, (lt, out, macs) in variants.items():
        path = os.path.join(work, "sample-%s.pcap" % name)
        write_pcap(path, header, lt, out)
        enc = t.tshark_fields(path, "", ["frame.encap_type"])
        t.check(enc and all(r[0] == enc[0][0] for r in enc), "%s: tshark disagrees on the encapsulation" % name)
        malformed = t.tshark_fields(path, "_ws.malformed or _ws.expert.severity == error", ["frame.number"])
        t.check(not malformed, "%s: tshark finds malformed frames %s" % (name, malformed[:5]))
        assets, flows, _ = t.run_sensor(path, os.path.join(work, name), config=cfg)
        truth = t.tshark_ip_pair_bytes(path)
        ours = t.flow_pair_bytes(flows)
        t.check(truth, "%s: tshark saw no IP traffic" % name)
        diff = {k: (ours.get(k), v) for k, v in truth.items() if ours.get(k) != v}
        extra = {k: v for k, v in ours.items() if k not in truth}
        t.check(not diff and not extra, "%s: pairs differ from tshark (ours, tshark): %s; extra %s" % (
            name, list(diff.items())[:5], list(extra.items())[:5]))
        t.check(len(flows) > 0, "%s: no flows" % name)
        # Raw IP drops ARP: a host only ARP told of is not expected there.
        ips = asset_ips(assets)
        want = asset_ips(eth_assets)
        if not macs:
            seen = {a for r in t.innermost_ip_rows(path, dedup=False) for a in r[:2]}
            want = {ip for ip in want if ip in seen}
            t.check(len(want) >= len(asset_ips(eth_assets)) - 2, "raw: too few addresses left to compare")
        t.check(ips == want, "%s: asset addresses differ from the Ethernet run: only here %s, "
                "only there %s" % (name, sorted(ips - want)[:5], sorted(want - ips)[:5]))
        got = {ip: a.get("mac") for ip, a in t.assets_by_ip(assets).items()}
        # Raw IP has no link header, but DHCP still tells client MACs: any
        # MAC an asset has must be the Ethernet run's.
        wrong = {ip: (m, eth_macs.get(ip)) for ip, m in got.items() if m and m != eth_macs.get(ip)}
        t.check(not wrong, "%s: MACs differ from the Ethernet run: %s" % (name, wrong))
        if macs:
            same = [ip for ip, m in got.items() if m and m == eth_macs.get(ip)]
            t.check(len(same) >= len([m for m in eth_macs.values() if m]) // 2,
                    "%s: only %d of the Ethernet run's MACs found" % (name, len(same)))
        print("%s: %d pairs equal tshark's, %d assets" % (name, len(truth), len(ips)))

    # Radiotap (LINKTYPE_IEEE802_11_RADIO, 127): one record of a bare radiotap header.
    radiotap = os.path.join(work, "radiotap.pcap")
    write_pcap(radiotap, header, 127, [(recs[0][0], 0, 8 + 24, b"\0\0\x08\0\0\0\0\0" + b"\x80\0" + b"\0" * 22)])
    refused(work, radiotap, ["link type 127", "IEEE802_11_RADIO", "not supported"])
    gz = os.path.join(work, "sample.pcap.gz")
    with open(sample, "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    refused(work, gz, ["is gzip-compressed: decompress it first (gunzip %s)" % gz])


t.main(run)

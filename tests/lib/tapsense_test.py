"""Helpers for tapsense end-to-end and fault tests.

Each test is a plain script run by CTest with Debian's /usr/bin/python3:
exit 0 = pass, 1 = fail, 77 = skipped (with a reason on stdout). Truth comes
from independent tools run on the same capture (tshark, p0f), never from what
tapsense printed before.
"""
import ipaddress
import json
import os
import socket
import re
import shutil
import struct
import subprocess
import sys
import tempfile

SOURCE = os.environ.get("TAPSENSE_SOURCE") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("TAPSENSE_BUILD") or os.path.join(SOURCE, "build")
BIN = os.path.join(BUILD, "bin")
SUPERVISOR = os.path.join(BIN, "tapsense-supervisor")
SHARED_PCAPS = os.path.normpath(os.path.join(SOURCE, "..", "shared", "pcaps"))
PYTHON = "/usr/bin/python3"  # Debian's, with python3-scapy

SKIP = 77
DEFAULT_INTERNAL = [ipaddress.ip_network(n) for n in
                    ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


class Failure(Exception):
    pass


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def main(fn):
    """Runs fn() and turns its outcome into the exit code CTest expects. The
    work directories tmpdir() made go when the test passes or skips (some
    hold captures of hundreds of MB: a suite's leftovers filled the disk);
    a failed test keeps them and says where."""
    try:
        fn()
    except Failure as e:
        print("FAIL: " + str(e))
        if _made:
            print("kept for inspection: " + " ".join(_made))
        sys.exit(1)
    except SystemExit as e:
        if e.code == SKIP:
            _remove_made()
        raise
    _remove_made()
    print("PASS")
    sys.exit(0)


def shared_pcap(rel):
    """Path of a capture under ../shared/pcaps, or skip the test when absent."""
    p = os.path.join(SHARED_PCAPS, rel)
    if not os.path.exists(p):
        skip("../shared/pcaps/%s absent (the shared captures sit beside the checkout in CI)" % rel)
    return p


def need(tool):
    if shutil.which(tool) is None:
        skip("%s is not installed (deploy/install-deps.sh installs it)" % tool)


_made = []  # work directories of this test (main() removes them unless it failed)


def tmpdir(prefix="tapsense-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _made.append(d)
    return d


def _remove_made():
    for d in _made:
        shutil.rmtree(d, ignore_errors=True)
    _made.clear()


def write_config(directory, text):
    path = os.path.join(directory, "tapsense.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


ALL_INTERNAL = """
[[internal]]
name = "everything"
ranges = ["0.0.0.0/0", "::/0"]
"""


def run_sensor(pcap, out, config=None, timeout=300, expect_rc=0, extra=()):
    """Runs the whole pipeline on a capture; returns (assets, flows, proc)."""
    cmd = [SUPERVISOR, "--pcap", pcap, "--output", out, "--quiet"]
    if config:
        cmd += ["--config", config]
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if expect_rc is not None and p.returncode != expect_rc:
        raise Failure("%s exited %d (expected %d)\nstderr:\n%s" % (" ".join(cmd), p.returncode, expect_rc, p.stderr))
    assets = flows = None
    if p.returncode == 0:
        with open(os.path.join(out, "assets.json")) as f:
            assets = json.load(f)
        with open(os.path.join(out, "flows.json")) as f:
            flows = json.load(f)
    return assets, flows, p


def tshark_fields(pcap, display_filter, fields, occurrence="f", extra=()):
    """Rows of tshark -T fields output (list of lists of str). Splits lines on
    '\\n' only: str.splitlines() would also split on \\x1c-\\x1e."""
    cmd = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=" + occurrence]
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    cmd += list(extra)
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=True).stdout
    return [line.split("\t") for line in out.split("\n") if line != ""]


def is_internal(ip, nets=DEFAULT_INTERNAL):
    a = ipaddress.ip_address(ip)
    return any(a.version == n.version and a in n for n in nets)


_DEDUP = {}


def dedup(pcap):
    """The capture without the identical copies the sensor drops by default
    (same bytes within 1 ms), as editcap -w removes them: the independent
    reference for byte counts."""
    if pcap not in _DEDUP:
        need("editcap")
        out = os.path.join(tmpdir("tapsense-dedup-"), "dedup.pcap")
        subprocess.run(["editcap", "-w", "0.001", pcap, out], check=True, capture_output=True)
        _DEDUP[pcap] = out
    return _DEDUP[pcap]


def editcap_duplicates(pcap):
    need("editcap")
    p = subprocess.run(["editcap", "-w", "0.001", pcap, os.path.join(tmpdir(), "d.pcap")],
                       capture_output=True, text=True, check=True)
    out = p.stdout + p.stderr  # editcap reports on stderr
    m = re.search(r"(\d+) packets skipped", out)
    return int(m.group(1)) if m else 0


def innermost_ip_rows(pcap, extra_fields=(), dedup=True):
    """Per IP frame: (src, dst, frame.len, time, extra...) of the innermost IP
    header that is not quoted inside an ICMP error, the way the sensor
    decapsulates tunnels. Fragments of one datagram all count for the pair of
    the reassembled datagram (tshark shows the inner layers only on the frame
    that completes it).

    dedup: drop copies of a packet seen within 1 ms, a copy being the same
    IP packet (inner addresses, IP id, length and checksum, L4 checksums) in
    a frame of the same length -- what the sensor drops by default. Built
    from tshark's dissection, not from the sensor's code."""
    fields = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "frame.len", "ip.id",
              "ip.flags.mf", "ip.frag_offset", "ipv6.fraghdr.ident", "frame.time_epoch", "ip.len",
              "ip.checksum", "ipv6.plen", "tcp.checksum", "udp.checksum", "icmp.checksum",
              "icmpv6.checksum", "ip.ttl", "ipv6.hlim", "tcp.seq_raw", "tcp.ack_raw", "tcp.window_size_value",
              "ipv6.fraghdr.offset"]
    base = len(fields)
    fields += list(extra_fields)
    rows = tshark_fields(pcap, "ip or ipv6", fields, occurrence="a")
    out = []
    groups = {}
    last_seen = {}
    for r in rows:
        r += [""] * (len(fields) - len(r))
        layers = r[0].split(":")
        v4 = v6 = 0
        last = None
        for layer in layers:
            if layer in ("icmp", "icmpv6"):
                break
            if layer == "ip":
                v4 += 1
                last = ("ip", v4)
            elif layer == "ipv6":
                v6 += 1
                last = ("ipv6", v6)
        if last is None:
            continue
        # A tunnel carrying a non-IP frame (ARP inside GRE): the inner packet
        # is what counts, and it is not IP traffic.
        eth_layers = [i for i, layer in enumerate(layers) if layer == "eth"]
        ip_layers = [i for i, layer in enumerate(layers) if layer in ("ip", "ipv6")]
        first_icmp = next((i for i, layer in enumerate(layers) if layer in ("icmp", "icmpv6")), len(layers))
        ip_layers = [i for i in ip_layers if i < first_icmp]
        if eth_layers and ip_layers and eth_layers[-1] > ip_layers[-1] and eth_layers[-1] < first_icmp:
            continue
        srcs, dsts = (r[1], r[2]) if last[0] == "ip" else (r[3], r[4])
        srcs, dsts = srcs.split(","), dsts.split(",")
        k = last[1] - 1
        if k >= len(srcs) or k >= len(dsts) or not srcs[k]:
            continue
        if dedup:
            def pick(v):
                parts = v.split(",")
                return parts[k] if k < len(parts) else ""
            if last[0] == "ip":
                ident = ("4", pick(r[6]), pick(r[11]), pick(r[12]), pick(r[18]))
            else:
                ident = ("6", pick(r[13]), pick(r[19]), r[9], r[23])
            key = (r[5], srcs[k], dsts[k]) + ident + tuple(r[14:18]) + tuple(r[20:23])
            # In whole microseconds: DPDK 22.11's net_pcap hands the sensor
            # microsecond timestamps, and a float of epoch seconds is too
            # coarse (about 0.2 us) to judge a copy exactly 1 ms later.
            sec, _, frac = r[10].partition(".")
            ts = int(sec) * 1000000 + int((frac + "000000")[:6])
            prev = last_seen.get(key)
            last_seen[key] = ts
            if prev is not None and 0 <= ts - prev <= 1000:
                continue
        row = [srcs[k], dsts[k], int(r[5]), float(r[10])] + r[base:]
        # The outermost IP header's fragment identity, when it is a fragment.
        outer_src = (r[1] or r[3]).split(",")[0]
        outer_dst = (r[2] or r[4]).split(",")[0]
        frag = None
        mf = r[7].split(",")[0] if r[7] else ""
        off = r[8].split(",")[0] if r[8] else ""
        if (mf in ("1", "True") or (off not in ("", "0"))) and r[6]:
            frag = (outer_src, outer_dst, r[6].split(",")[0])
        elif r[9]:
            frag = (outer_src, outer_dst, r[9].split(",")[0])
        if frag is not None:
            depth = len(layers)
            g = groups.setdefault(frag, {"rows": [], "best": None, "depth": -1})
            g["rows"].append(row)
            if depth > g["depth"]:
                g["depth"], g["best"] = depth, (row[0], row[1])
        out.append(row)
    for g in groups.values():
        for row in g["rows"]:
            row[0], row[1] = g["best"]
    return out


def tshark_ip_pair_bytes(pcap, side=lambda ip: ip, dedup=True):
    """Bytes (frame.len) per unordered pair of IP addresses (the innermost
    header, as the sensor counts), without the copies the sensor drops by
    default (dedup=False: every frame); `side` maps an address to its
    reported name (None drops the packet)."""
    pairs = {}
    for src, dst, length, _ in innermost_ip_rows(pcap, dedup=dedup):
        a, b = side(src), side(dst)
        if a is None or b is None:
            continue
        key = tuple(sorted((a, b)))
        pairs[key] = pairs.get(key, 0) + length
    return pairs


def check_pairs(what, ours, truth):
    """Fails unless `ours` (pair -> bytes) is exactly `truth`, naming the
    first pairs that differ."""
    missing = {k: v for k, v in truth.items() if ours.get(k) != v}
    extra = {k: v for k, v in ours.items() if k not in truth}
    check(not missing and not extra, "%s: %d of %d pairs differ, e.g. %s (ours %s); extra %s" % (
        what, len(missing), len(truth), list(missing.items())[:3], [ours.get(k) for k in list(missing)[:3]],
        list(extra.items())[:3]))


def flow_pair_bytes(flows):
    pairs = {}
    for f in flows:
        key = tuple(sorted((f["src_ip"], f["dst_ip"])))
        pairs[key] = pairs.get(key, 0) + f["bytes_src_to_dst"] + f["bytes_dst_to_src"]
    return pairs


def p0f_verdicts(pcap):
    """(sender ip, direction, os label, raw_sig) for every SYN and SYN+ACK p0f
    reports when reading the capture."""
    need("p0f")
    # p0f 3.09b reads the IP header at offset 14: it cannot see past 802.1Q
    # tags. Give it a copy with the tags removed (each pass removes one).
    if tshark_fields(pcap, "vlan", ["frame.number"]):
        need("tcprewrite")
        src = pcap
        for i in range(2):
            dst = os.path.join(tmpdir("tapsense-p0f-"), "untagged%d.pcap" % i)
            subprocess.run(["tcprewrite", "--enet-vlan=del", "-i", src, "-o", dst], check=True,
                           capture_output=True)
            src = dst
        pcap = src
    out = subprocess.run(["p0f", "-r", pcap], capture_output=True, text=True, errors="replace").stdout
    res = []
    block = None
    for line in out.split("\n"):
        m = re.match(r"^\.-\[ (\S+)/(\d+) -> (\S+)/(\d+) \((syn|syn\+ack)\) \]-", line)
        if m:
            block = {"dir": m.group(5), "cli": m.group(1), "srv": m.group(3)}
            continue
        if block is None:
            continue
        m = re.match(r"^\| (\w+)\s+= (.*)$", line)
        if m:
            block[m.group(1)] = m.group(2)
        if line.startswith("`----"):
            sender = block["cli"] if block["dir"] == "syn" else block["srv"]
            res.append((sender, block["dir"], block.get("os", "???"), block.get("raw_sig", "")))
            block = None
    return res


def assets_by_ip(assets):
    out = {}
    for a in assets:
        for ip in a.get("ips") or ([a["ip"]] if a.get("ip") else []):
            out[ip] = a
    return out


def assets_by_mac(assets):
    return {a["mac"]: a for a in assets if a.get("mac")}


def evidence(asset, source=None, field=None):
    return [e for e in asset.get("evidence", [])
            if (source is None or e["source"] == source) and (field is None or e["field"] == field)]


def sample_capture(work, copies):
    """A larger capture the project makes itself: deploy/make-sample.py with
    --copies (copies of the sample office, each with its own LAN addresses
    and MACs, interleaved in time). Needs no third-party capture, so a user's
    clone runs the tests that use it. Returns (path, packets)."""
    path = os.path.join(work, "sample-%d.pcap" % copies)
    if not os.path.exists(path):
        subprocess.run([PYTHON, os.path.join(SOURCE, "deploy", "make-sample.py"), path, "--copies", str(copies)],
                       check=True, capture_output=True)
    n = int(subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True, check=True)
            .stdout.strip().split()[-1])
    return path, n


def sample_records(work):
    """The sample office (sample_capture(work, 2)) as its pcap file header and
    its records (seconds, microseconds, captured bytes, wire length), for
    tests that build a large file of their own from it."""
    sample, _ = sample_capture(work, 2)
    with open(sample, "rb") as f:
        data = f.read()
    check(struct.unpack("<I", data[:4])[0] == 0xa1b2c3d4, "the sample is not a little-endian pcap")
    records = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, caplen, length = struct.unpack("<IIII", data[off:off + 16])
        records.append((sec, usec, data[off + 16:off + 16 + caplen], length))
        off += 16 + caplen
    return data[:24], records


def write_repeated(f, records, packets):
    """Writes `records` to the open pcap file `f` again and again, whole
    copies each 100 s after the one before, until at least `packets` are
    written; returns how many were."""
    written = 0
    copy = 0
    while written < packets:
        for sec, usec, body, length in records:
            f.write(struct.pack("<IIII", sec + 100 * copy, usec, len(body), length) + body)
            written += 1
        copy += 1
    return written


def sensor_stats(run_dir):
    """Counters of a running sensor (tapsense-supervisor --stats), as
    {stage: {"pid": N, counter: value}}; None when no sensor answers."""
    p = subprocess.run([SUPERVISOR, "--stats", "--run-dir", run_dir], capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        return None
    stages = {}
    cur = None
    for line in p.stdout.split("\n"):
        if line and not line.startswith(" "):
            name = line.split(" ")[0]
            pid = int(line.split("pid ")[1].split(",")[0])
            cur = stages[name] = {"pid": pid}
        elif line.strip() and cur is not None:
            k, v = line.split()
            cur[k] = int(v)
    return stages


def stage_pids(run_dir):
    """Processes started with this run directory's configuration (the
    stages of the sensor whose run directory it is)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if any(a == (run_dir + "/effective.toml").encode() for a in cmd):
            pids.append(int(p))
    return pids


def leftovers(instance=None, run_dir=None):
    """What a finished run must not leave behind: shared-memory segments and
    lock files of its instance (all tapsense ones when None), DPDK hugepage
    files of tapsense, DPDK's runtime directory of its capture
    (/run/dpdk/tapsense-<instance>), and its run directory."""
    left = []
    for name in os.listdir("/dev/shm"):
        if name.startswith("tapsense.") and (instance is None or name.startswith("tapsense.%s." % instance)):
            left.append("/dev/shm/" + name)
    if os.path.isdir("/run/dpdk"):
        left += ["/run/dpdk/" + n for n in os.listdir("/run/dpdk")
                 if (n.startswith("tapsense-") if instance is None else n == "tapsense-" + instance)]
    if os.path.isdir("/dev/hugepages"):
        left += ["/dev/hugepages/" + n for n in os.listdir("/dev/hugepages") if n.startswith("tapsense")]
    if run_dir and os.path.exists(run_dir):
        left.append(run_dir)
    return left


def special_class(ip, eth_dst="", source=False):
    """The class an address has by itself (README, Asset classes), from the
    address and the frame's destination MAC: 'unassigned' (0.0.0.0, ::),
    'broadcast' (255.255.255.255, or an IPv4 address the frame sends to the
    Ethernet broadcast MAC), 'multicast' (224.0.0.0/4, ff00::/8 as a
    destination; source=True: the address sent the packet), else None."""
    a = ipaddress.ip_address(ip)
    if a.is_unspecified:
        return "unassigned"
    if a.version == 4 and (int(a) == 0xffffffff or eth_dst.lower() == "ff:ff:ff:ff:ff:ff"):
        return "broadcast"
    if a.is_multicast and not source:
        return "multicast"
    return None


def tshark_tracked_pair_bytes(pcap, inventoried, dedup=True):
    """Bytes per unordered pair of flow sides by the README's rules, on
    tshark's packets: a side is its address when it has a class of its own
    (special_class) or inventoried(ip), else "External"; a packet counts when
    a side is inventoried, or when it comes from an unassigned address with a
    unicast source MAC (innermost Ethernet header)."""
    pairs = {}
    for src, dst, length, _, esrc, edst in innermost_ip_rows(pcap, ["eth.src", "eth.dst"], dedup=dedup):
        esrc, edst = esrc.split(",")[-1], edst.split(",")[-1]
        sides = []
        tracked = False
        for ip, mac, source in ((src, "", True), (dst, edst, False)):
            sc = special_class(ip, mac, source)
            inv = sc is None and inventoried(ip)
            tracked = tracked or inv
            sides.append(ip if sc or inv else "External")
        unicast_src = esrc not in ("", "00:00:00:00:00:00") and int(esrc.replace(":", "")[:2], 16) & 1 == 0
        if special_class(src) == "unassigned" and unicast_src:
            tracked = True
        if not tracked:
            continue
        key = tuple(sorted(sides))
        pairs[key] = pairs.get(key, 0) + length
    return pairs


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on now (the kernel's choice)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

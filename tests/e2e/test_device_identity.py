"""Identity that names the device, scored against labels from outside the
packets: ../shared/pcaps/devices/MANIFEST.tsv gives, per labelled device of a
real capture, its type, vendor (brand), model and OS as each dataset's own
device table documents them, and how to find it (MAC, IP or BLE address).

Each capture runs through the whole pipeline (offline, everything
inventoried); the labelled device is looked up by its MAC, else its IP. Scores
per row: found (an asset exists), specific type (`device_type` is one the
label allows), coarse class (`device_class`), vendor (the brand, compared
case- and punctuation-insensitively as a word prefix either way: 'Cisco' fits
'Cisco Meraki', a bracketed alias in the label such as 'Blink (Amazon)' also
counts) and OS family where the label names one. Prints the table and the
totals; fails when a total falls below the floor measured when the rules were
last improved (FLOORS), so identity cannot silently regress.

The label vocabulary is the datasets' own ('ip_camera', 'hub/bridge',
'router/AP', 'ics_plc'...): LABEL_TYPES maps it to the device types and
classes of README's vocabulary a correct answer may give."""
import csv
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

# label device_type -> (allowed device_type values, device_class)
LABEL_TYPES = {
    "ip_camera": ({"camera"}, "IoT"),
    "hub/bridge": ({"hub"}, "IoT"),
    "smart_lock": ({"lock"}, "IoT"),
    "smart_bulb": ({"smart bulb"}, "IoT"),
    "smart_plug": ({"smart plug"}, "IoT"),
    "sensor (motion)": ({"sensor"}, "IoT"),
    "smart_speaker": ({"speaker"}, "IoT"),
    "smart_home_device (type unknown)": (None, "IoT"),
    "phone": ({"phone"}, "mobile"),
    "tablet": ({"tablet"}, "mobile"),
    # A virtual machine is a computer whose NIC a hypervisor makes.
    "computer": ({"computer", "virtual machine"}, "IT"),
    "computer (server)": ({"server", "computer", "virtual machine"}, "IT"),
    "printer": ({"printer"}, "IT"),
    "medical (blood-pressure monitor)": ({"medical device", "health device"}, "IoT"),
    "medical (breath ketone meter)": ({"medical device", "health device"}, "IoT"),
    "medical (baby monitor)": ({"medical device", "health device", "camera"}, "IoT"),
    "wearable (fitness tracker)": ({"wearable"}, "IoT"),
    "health (smart scale)": ({"health device"}, "IoT"),
    "voip_phone": ({"VoIP phone"}, "IoT"),
    "voip_adapter (ATA)": ({"VoIP phone"}, "IoT"),
    "router/CPE (ADSL gateway)": ({"router"}, "network"),
    "router/switch": ({"router", "switch", "network device"}, "network"),
    "router": ({"router"}, "network"),
    "router/AP": ({"router", "access point"}, "network"),
    "pro_audio (digital mixing console)": ({"media device"}, "IoT"),
    "ics_plc": ({"PLC"}, "OT"),
    "lab_instrument_gateway": ({"hub", "network device"}, "OT"),
}

# label os -> allowed os_family values (first match of the regex)
LABEL_OS = [
    (r"^Android", {"Android"}), (r"^iOS/iPadOS", {"iOS", "iPadOS"}), (r"^iOS", {"iOS"}),
    (r"^macOS", {"macOS"}), (r"^Windows", {"Windows"}), (r"^Linux", {"Linux"}),
    (r"^RouterOS", {"RouterOS"}), (r"^IOS", {"Cisco IOS", "Cisco IOS XE"}), (r"^NX-OS", {"Cisco NX-OS"}),
    (r"^MS-DOS", {"MS-DOS"}),
]

# Totals this test must reach (measured; raise them when the rules improve).
# Before issue 11's rules: found 77, type 4, class 0, vendor 27, os 17.
FLOORS = {"found": 77, "type": 34, "class": 45, "vendor": 43, "os": 17}


def norm_words(s):
    return re.sub(r"[^a-z0-9 ]", "", re.sub(r"[-_/.,]", " ", s.lower())).split()


def vendor_ok(label, got):
    if not got:
        return False
    alts = [label] + re.findall(r"\(([^)]*)\)", label)
    g = norm_words(got)
    for alt in alts:
        w = norm_words(re.sub(r"\([^)]*\)", "", alt))
        if not w:
            continue
        n = min(len(w), len(g))
        if "".join(w[:n]) == "".join(g[:n]) or "".join(w) == "".join(g):
            return True
    return False


def os_allowed(label):
    for pat, fams in LABEL_OS:
        if re.match(pat, label):
            return fams
    return None


def manifest(root):
    with open(os.path.join(root, "MANIFEST.tsv"), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def locate(assets, key):
    """The labelled device's asset: by MAC (also a BLE address), else by IP;
    a file with one transmitter ('single device per capture') by being the
    only asset with a MAC."""
    key = re.sub(r"\s*\(.*\)$", "", key.strip())
    macs = re.findall(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", key.lower())
    ips = [w for w in re.split(r"[ /]+", key) if re.match(r"^\d+\.\d+\.\d+\.\d+$", w)]
    by_mac = t.assets_by_mac(assets)
    by_ip = t.assets_by_ip(assets)
    for m in macs:
        if m in by_mac:
            return by_mac[m]
    for ip in ips:
        if ip in by_ip:
            return by_ip[ip]
    if not macs and not ips:
        with_mac = [a for a in assets if a.get("mac")]
        if len(with_mac) == 1:
            return with_mac[0]
    return None


def run():
    root = t.shared_pcap("devices")
    rows = manifest(root)
    t.check(len(rows) >= 90, "MANIFEST.tsv has %d rows, expected the 93 of the development set" % len(rows))
    cfg = t.write_config(t.tmpdir(), t.ALL_INTERNAL)
    outputs = {}
    tot = {k: 0 for k in FLOORS}
    den = {k: 0 for k in FLOORS}
    lines = []
    for r in rows:
        rel = r["local_path"]
        if rel not in outputs:
            pcap = os.path.normpath(os.path.join(root, rel))
            assets, _, p = t.run_sensor(pcap, os.path.join(t.tmpdir(), "out"), config=cfg, expect_rc=None)
            outputs[rel] = assets if p.returncode == 0 else None
            if p.returncode != 0:
                lines.append("  %s: sensor exited %d: %s" % (rel, p.returncode, p.stderr.strip()[-200:]))
        assets = outputs[rel] or []
        a = locate(assets, r["device_mac_or_ip"])
        types, cls = LABEL_TYPES.get(r["device_type"], (None, None))
        t.check(r["device_type"] in LABEL_TYPES, "label type %r not mapped in LABEL_TYPES" % r["device_type"])
        got = a or {}
        marks = {}
        den["found"] += 1
        marks["found"] = a is not None
        if types:
            den["type"] += 1
            marks["type"] = got.get("device_type") in types
        den["class"] += 1
        marks["class"] = got.get("device_class") == cls
        if r["vendor"]:
            den["vendor"] += 1
            marks["vendor"] = vendor_ok(r["vendor"], got.get("vendor"))
        fams = os_allowed(r["os"]) if r["os"] else None
        if fams:
            den["os"] += 1
            marks["os"] = got.get("os_family") in fams
        for k, v in marks.items():
            tot[k] += int(v)
        flag = " ".join(("%s%s" % ("+" if marks[k] else "-", k)) if k in marks else " " * (len(k) + 1) for k in FLOORS)
        lines.append("%-44.44s %-22.22s %-16.16s %-22.22s %-10.10s %s" % (
            rel, r["device_type"] + "/" + (r["vendor"] or "-"), str(got.get("device_type")),
            str(got.get("vendor")), str(got.get("os_family")), flag))
    print("%-44s %-22s %-16s %-22s %-10s %s" % ("capture", "label type/vendor", "device_type", "vendor", "os_family",
                                               "scores"))
    print("\n".join(lines))
    print("totals: " + ", ".join("%s %d/%d" % (k, tot[k], den[k]) for k in FLOORS))
    for k, floor in FLOORS.items():
        t.check(tot[k] >= floor, "%s fell to %d/%d (floor %d)" % (k, tot[k], den[k], floor))


t.main(run)

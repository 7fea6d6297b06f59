"""UPnP device descriptions that cross the wire (common/proto/upnp.h): an
HTTP exchange in which a control point fetches a device's description.xml
is written with scapy (no shared capture carries one): a Hue bridge's
(Basic device, one segment) and a router's (InternetGatewayDevice with an
embedded WANDevice, the body split over two segments), and a non-UPnP XML
response. What the device says is taken independently from tshark's HTTP
body, read with Python's XML parser (root device only); the sensor's
evidence about the server's MAC must say the same, and the rules must type
the devices."""
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

from scapy.all import Ether, IP, TCP, wrpcap  # noqa: E402

NS = "{urn:schemas-upnp-org:device-1-0}"
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus", "upnp")

CLIENT = ("02:00:00:00:00:01", "192.168.1.10")
DEVICES = [  # (mac, ip, body file or bytes, segments, expected device_type)
    ("00:17:88:36:b0:7f", "192.168.1.141", "seed-hue-bridge", 1, "hub"),
    ("a0:40:a0:11:22:33", "192.168.1.1", "seed-gateway", 2, "router"),
    ("02:00:00:00:00:99", "192.168.1.99", b'<?xml version="1.0"?><rss><channel><title>x</title></channel></rss>', 1, None),
]


def exchange(mac, ip, body, segments, t0, sport):
    req = b"GET /description.xml HTTP/1.1\r\nHost: %s\r\n\r\n" % ip.encode()
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    c = Ether(src=CLIENT[0], dst=mac) / IP(src=CLIENT[1], dst=ip)
    s = Ether(src=mac, dst=CLIENT[0]) / IP(src=ip, dst=CLIENT[1], ttl=64)
    pk = [c / TCP(sport=sport, dport=80, flags="S", seq=100),
          s / TCP(sport=80, dport=sport, flags="SA", seq=500, ack=101),
          c / TCP(sport=sport, dport=80, flags="A", seq=101, ack=501),
          c / TCP(sport=sport, dport=80, flags="PA", seq=101, ack=501) / req]
    step = (len(resp) + segments - 1) // segments
    for k in range(segments):
        part = resp[k * step:(k + 1) * step]
        pk.append(s / TCP(sport=80, dport=sport, flags="PA", seq=501 + k * step, ack=101 + len(req)) / part)
    pk.append(c / TCP(sport=sport, dport=80, flags="FA", seq=101 + len(req), ack=501 + len(resp)))
    pk.append(s / TCP(sport=80, dport=sport, flags="FA", seq=501 + len(resp), ack=102 + len(req)))
    for i, p in enumerate(pk):
        p.time = t0 + i * 0.01
    return pk


def said_by_tshark(pcap, ip):
    """The root device's leaf elements, from the body tshark reassembles."""
    rows = t.tshark_fields(pcap, "http.response && ip.src==%s" % ip, ["http.file_data"], extra=("-o", "tcp.desegment_tcp_streams:TRUE"))
    if not rows or not rows[0][0]:
        return None
    # tshark writes CR, LF and TAB in a field as \\r, \\n, \\t.
    text = rows[0][0].replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")
    try:
        root = ET.fromstring(text.encode())
    except ET.ParseError:
        return None
    dev = root.find(NS + "device")
    if root.tag != NS + "root" or dev is None:
        return None
    out = {}
    for tag, field in (("deviceType", "upnp_device_type"), ("manufacturer", "vendor"), ("modelName", "model"),
                       ("modelNumber", "model_number"), ("friendlyName", "friendly_name"), ("UDN", "upnp_uuid")):
        e = dev.find(NS + tag)
        if e is not None and e.text and e.text.strip():
            out[field] = e.text.strip()
    return out


def run():
    t.need("tshark")
    work = t.tmpdir()
    pcap = os.path.join(work, "upnp.pcap")
    pk = []
    for i, (mac, ip, body, segments, _) in enumerate(DEVICES):
        if isinstance(body, str):
            with open(os.path.join(CORPUS, body), "rb") as f:
                body = f.read()
        pk += exchange(mac, ip, body, segments, 1700000000 + i, 40000 + i)
    wrpcap(pcap, pk)
    cfg = t.write_config(work, t.ALL_INTERNAL)
    assets, _, _ = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
    by_mac = t.assets_by_mac(assets)
    for mac, ip, _, _, dtype in DEVICES:
        want = said_by_tshark(pcap, ip)
        a = by_mac.get(mac)
        t.check(a is not None, "no asset for %s" % mac)
        got = {e["field"]: e["value"] for e in t.evidence(a, "upnp")}
        if dtype is None:
            t.check(want is None, "tshark reads a UPnP description from %s" % ip)
            t.check(not got, "upnp facts from a non-UPnP XML body: %r" % got)
            continue
        t.check(want, "tshark reads no UPnP description from %s" % ip)
        print("%s: tshark %r" % (ip, want))
        for field, value in want.items():
            t.check(got.get(field) == value, "%s upnp/%s: sensor %r, tshark %r" % (ip, field, got.get(field), value))
        t.check(a.get("device_type") == dtype, "%s device_type %r, expected %r" % (ip, a.get("device_type"), dtype))
        t.check(a.get("model") == want["model"], "%s model %r, expected %r" % (ip, a.get("model"), want["model"]))


if __name__ == "__main__":
    t.main(run)

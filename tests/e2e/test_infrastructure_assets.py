"""Network infrastructure as assets, end to end (issue 11, "Infrastructure").

1. Every device that announces itself by CDP or LLDP in the shared captures
   is an asset keyed by the frame's source MAC (tshark's eth.src of each
   cdp/lldp frame), carrying the Device ID / System Name tshark decodes.
2. A switch with no address (CDP Addresses and LLDP Management Address
   0.0.0.0, as an unconfigured Catalyst announces) is an asset all the same,
   and 0.0.0.0 is never an asset's address. The frames are the real frames
   of devices/wireshark_wiki/cdp.pcap and lldp/lldp.pcap with only the
   address bytes (and the CDP checksum) changed: tshark checks the result
   ("IP Address: 0.0.0.0", checksum good).
3. CDP and LLDP carried in GRE: a router's CDP over a tunnel interface
   (GRE protocol 0x2000, the real PDU of cdp.pcap after an IPv4/GRE
   header) lands on the router's tunnel address; LLDP and CDP frames bridged
   in GRE (0x6558, the real frames) land on the inner frame's source MAC.
   tshark must dissect cdp/lldp inside gre.
4. Cisco MetaData (EtherType 0x8909, the TrustSec SGT tag) in Ethernet and
   in GRE around the real IP packets of gre/gre-sample.pcap: tshark must
   show 'cmd' and the inner addresses, and every inner address tshark shows
   is an asset (before, the inner IP of such GRE was lost).
5. SNMP and WS-Discovery, parsed now that capture's snapshot choice and the
   fingerprinter read one registry: an agent's GetResponse and a camera's
   ProbeMatches (the parsers' fuzz seeds, tests/fuzz/corpus/{snmp,wsd}) sent
   as UDP from 10.9.1.1 / 10.9.1.2, and an SNMPv3 message from 10.9.1.3:
   tshark reads sysDescr, sysName, the v3 engine ID and its enterprise, and
   the WS-Discovery Types; the assets carry them, and the rules turn the IANA
   enterprise number 9 into vendor Cisco and ONVIF's NetworkVideoTransmitter
   into a camera.
The captures are built here in a temporary directory from those real bytes;
nothing is copied into the repository."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def read_pcap(path):
    """(linktype, [(ts_sec, ts_usec, bytes)]) of a classic little-endian pcap."""
    with open(path, "rb") as f:
        data = f.read()
    t.check(data[:4] == b"\xd4\xc3\xb2\xa1", "%s: not a little-endian pcap" % path)
    linktype = struct.unpack_from("<I", data, 20)[0]
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
        recs.append((sec, usec, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return linktype, recs


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)))
            f.write(fr)


def csum16(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ipv4(src, dst, proto, payload, ttl=255):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, ttl, proto, 0,
                    bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    h = h[:10] + struct.pack("!H", csum16(h)) + h[12:]
    return h + payload


def eth(dst, src, etype, payload):
    return bytes.fromhex(dst.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + struct.pack("!H", etype) + payload


ROUTER_MAC = "00:1b:54:c2:11:01"   # the next hop's MAC on the outer frames (any unicast)
PEER_MAC = "00:1b:54:c2:11:02"


def cdp_pdu(frame):
    """The CDP PDU (version byte on) of an 802.3/LLC/SNAP frame."""
    length = struct.unpack_from("!H", frame, 12)[0]
    t.check(length < 0x600 and frame[14:22] == bytes.fromhex("aaaa0300000c2000"), "not a CDP frame")
    return frame[22:14 + length]


def zero_cdp_address(frame):
    """The frame with every IPv4 address of its Addresses TLV set to 0.0.0.0
    and the CDP checksum recomputed (RFC 1071 over the PDU)."""
    pdu = bytearray(cdp_pdu(frame))
    off = 4
    while off + 4 <= len(pdu):
        typ, ln = struct.unpack_from("!HH", pdu, off)
        if typ == 0x0002:
            n = struct.unpack_from("!I", pdu, off + 4)[0]
            p = off + 8
            for _ in range(n):
                plen = pdu[p + 1]
                alen = struct.unpack_from("!H", pdu, p + 2 + plen)[0]
                if alen == 4:
                    pdu[p + 4 + plen:p + 8 + plen] = b"\0\0\0\0"
                p += 4 + plen + alen
        off += max(ln, 4)
    pdu[2:4] = b"\0\0"
    pdu[2:4] = struct.pack("!H", csum16(bytes(pdu)))
    return frame[:22] + bytes(pdu) + frame[22 + len(pdu):]


def lldp_tlvs(frame):
    t.check(struct.unpack_from("!H", frame, 12)[0] == 0x88cc, "not an LLDP frame")
    return frame[14:]


def zero_lldp_mgmt(frame):
    """The frame with the IPv4 Management Address TLVs' address set to 0.0.0.0."""
    b = bytearray(frame)
    off = 14
    while off + 2 <= len(b):
        head = struct.unpack_from("!H", b, off)[0]
        typ, ln = head >> 9, head & 0x1ff
        if typ == 0:
            break
        if typ == 8 and ln >= 6 and b[off + 3] == 1 and b[off + 2] == 5:
            b[off + 4:off + 8] = b"\0\0\0\0"
        off += 2 + ln
    return bytes(b)


def tshark_protocols(pcap):
    return [r[0] for r in t.tshark_fields(pcap, "", ["frame.protocols"])]


def run(pcap, work, name):
    out = os.path.join(work, "out-" + name)
    assets, _, _ = t.run_sensor(pcap, out)
    return assets


def main():
    t.need("tshark")
    work = t.tmpdir()

    # 1. Every CDP/LLDP speaker in the shared captures is an asset by its MAC.
    # Documented exception (README, assets.json): a device whose every
    # announced address lies outside the inventory is not one of ours.
    for rel, proto, name_field, fact, addr_field in (
            ("devices/wireshark_wiki/cdp.pcap", "cdp", "cdp.deviceid", "device_id", "cdp.nrgyz.ip_address"),
            ("cdp/cdp-v1.pcap", "cdp", "cdp.deviceid", "device_id", "cdp.nrgyz.ip_address"),
            ("devices/lldpd/sg200.pcap", "lldp", "lldp.tlv.system.name", "system_name", "lldp.mgn.addr.ip4"),
            ("lldp/lldp.pcap", "lldp", "lldp.tlv.system.name", "system_name", "lldp.mgn.addr.ip4"),
            ("lldp/lldp_mudurl.pcap", "lldp", "lldp.tlv.system.name", "system_name", "lldp.mgn.addr.ip4")):
        pcap = t.shared_pcap(rel)
        assets = run(pcap, work, os.path.basename(rel))
        by_mac = t.assets_by_mac(assets)
        speakers = {}
        for r in t.tshark_fields(pcap, proto, ["eth.src", name_field, addr_field], occurrence="a"):
            r += [""] * (3 - len(r))
            speakers[r[0]] = (r[1], [a for a in r[2].split(",") if a])
        t.check(speakers, "%s: tshark finds no %s frame" % (rel, proto))
        kept = 0
        for mac, (name, addrs) in sorted(speakers.items()):
            if addrs and not any(t.is_internal(a) for a in addrs):
                t.check(mac not in by_mac, "%s: %s announces only %s, outside the inventory, yet is an asset" %
                        (rel, mac, addrs))
                continue
            kept += 1
            t.check(mac in by_mac, "%s: the %s speaker %s is no asset (assets: %s)" % (rel, proto, mac, sorted(by_mac)))
            if name:
                got = [e["value"] for e in t.evidence(by_mac[mac], proto, fact)]
                t.check(name in got, "%s: %s says %s=%r, the asset has %r" % (rel, mac, fact, name, got))
        print("%-32s %d of %d %s speaker(s) are assets (the others announce only outside addresses)" %
              (rel, kept, len(speakers), proto))

    _, cdp_frames = read_pcap(t.shared_pcap("devices/wireshark_wiki/cdp.pcap"))
    _, lldp_frames = read_pcap(t.shared_pcap("lldp/lldp.pcap"))
    cdp_frame, lldp_frame = cdp_frames[0][2], lldp_frames[0][2]

    # 2. An unconfigured switch: CDP and LLDP announcing 0.0.0.0.
    pcap = os.path.join(work, "unconfigured.pcap")
    write_pcap(pcap, [zero_cdp_address(cdp_frame), zero_lldp_mgmt(lldp_frame)])
    rows = t.tshark_fields(pcap, "cdp", ["cdp.nrgyz.ip_address", "cdp.checksum.status"], occurrence="a")
    t.check(rows and rows[0][0] == "0.0.0.0", "tshark does not read CDP address 0.0.0.0: %r" % rows)
    t.check(rows[0][1] == "1", "tshark does not find the rewritten CDP checksum good: %r" % rows)
    mg = t.tshark_fields(pcap, "lldp", ["lldp.mgn.addr.ip4", "eth.src"])
    t.check(mg and mg[0][0] == "0.0.0.0", "tshark does not read LLDP management address 0.0.0.0: %r" % mg)
    assets = run(pcap, work, "unconfigured")
    by_mac = t.assets_by_mac(assets)
    cdp_mac = t.tshark_fields(pcap, "cdp", ["eth.src"])[0][0]
    for mac, proto in ((cdp_mac, "cdp"), (mg[0][1], "lldp")):
        t.check(mac in by_mac, "a switch announcing 0.0.0.0 by %s (%s) is no asset: %s" % (proto, mac, sorted(by_mac)))
        t.check(t.evidence(by_mac[mac], proto), "the %s switch asset %s has no %s evidence" % (proto, mac, proto))
    t.check("0.0.0.0" not in t.assets_by_ip(assets), "0.0.0.0 became an asset's address")
    print("unconfigured switch (0.0.0.0)    CDP and LLDP speakers are assets by MAC, 0.0.0.0 is nobody's")

    # 3. CDP over GRE from a router's tunnel address; CDP and LLDP bridged in GRE.
    pcap = os.path.join(work, "gre-discovery.pcap")
    gre_cdp = ipv4("10.9.0.1", "10.9.0.2", 47, struct.pack("!HH", 0, 0x2000) + cdp_pdu(cdp_frame))
    write_pcap(pcap, [eth(PEER_MAC, ROUTER_MAC, 0x0800, gre_cdp)])
    protos = tshark_protocols(pcap)
    t.check(protos[0].endswith("gre:cdp"), "tshark does not see CDP in GRE: %r" % protos)
    names = {r[0]: r[1] for r in t.tshark_fields(pcap, "cdp", ["ip.src", "cdp.deviceid"])}
    assets = run(pcap, work, "gre-discovery")
    by_ip = t.assets_by_ip(assets)
    for ip, name in sorted(names.items()):
        t.check(ip in by_ip, "the router %s that sent CDP over GRE is no asset: %s" % (ip, sorted(by_ip)))
        got = [e["value"] for e in t.evidence(by_ip[ip], "cdp", "device_id")]
        t.check(name in got, "router %s: tshark reads %r over GRE, the asset has %r" % (ip, name, got))
    print("CDP in GRE (0x2000)              %d router(s) carry their announced names" % len(names))

    pcap = os.path.join(work, "gre-bridged.pcap")
    write_pcap(pcap, [eth(PEER_MAC, ROUTER_MAC, 0x0800, ipv4("10.9.0.1", "10.9.0.2", 47, struct.pack("!HH", 0, 0x6558) + fr))
                      for fr in (cdp_frame, lldp_frame)])
    protos = tshark_protocols(pcap)
    t.check(protos[0].endswith("gre:eth:llc:cdp") and protos[1].endswith("gre:eth:ethertype:lldp"),
            "tshark does not see CDP/LLDP bridged in GRE: %r" % protos)
    assets = run(pcap, work, "gre-bridged")
    by_mac = t.assets_by_mac(assets)
    for proto, field, fact in (("cdp", "cdp.deviceid", "device_id"), ("lldp", "lldp.tlv.system.name", "system_name")):
        mac, name = t.tshark_fields(pcap, proto, ["eth.src", field], occurrence="l")[0]
        t.check(mac in by_mac, "the %s speaker %s bridged in GRE is no asset: %s" % (proto, mac, sorted(by_mac)))
        got = [e["value"] for e in t.evidence(by_mac[mac], proto, fact)]
        t.check(name in got, "%s bridged in GRE: tshark reads %r, the asset has %r" % (proto, name, got))
    print("CDP/LLDP bridged in GRE (0x6558) both speakers are assets by their own MAC")

    # 4. Cisco MetaData (0x8909) around real IP packets, in Ethernet and in GRE.
    _, gre_recs = read_pcap(t.shared_pcap("gre/gre-sample.pcap"))
    inner = []
    for _, _, fr in gre_recs:
        # gre-sample: Ethernet / IPv4 / GRE(0x0800) / IPv4: keep the inner IP packets.
        if struct.unpack_from("!H", fr, 12)[0] != 0x0800 or fr[23] != 47:
            continue
        ihl = (fr[14] & 0x0f) * 4
        g = 14 + ihl
        flags, proto = struct.unpack_from("!HH", fr, g)
        if proto != 0x0800:
            continue
        hl = 4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
        inner.append(fr[g + hl:])
    t.check(len(inner) >= 10, "gre-sample.pcap: only %d inner IP packets" % len(inner))
    sgt = 100
    cmd_eth = [eth(PEER_MAC, ROUTER_MAC, 0x8909, struct.pack("!BBHHH", 1, 1, 0x0001, sgt, 0x0800) + ip) for ip in inner]
    cmd_gre = [eth(PEER_MAC, ROUTER_MAC, 0x0800,
                   ipv4("10.9.0.1", "10.9.0.2", 47, struct.pack("!HHHBBHH", 0, 0x8909, 0x0800, 1, 1, 0x0001, sgt) + ip))
               for ip in inner]
    for name, frames in (("cmd-ethernet", cmd_eth), ("cmd-gre", cmd_gre)):
        pcap = os.path.join(work, name + ".pcap")
        write_pcap(pcap, frames)
        protos = tshark_protocols(pcap)
        t.check(all(":cmd:" in p for p in protos), "%s: tshark does not decode Cisco MetaData: %r" % (name, protos[:3]))
        sgts = {r[0] for r in t.tshark_fields(pcap, "cmd", ["cmd.sgt"])}
        t.check(sgts == {str(sgt)}, "%s: tshark reads SGT %r" % (name, sgts))
        # The innermost addresses tshark shows (last ip.src/ip.dst of each packet).
        pairs, senders, packets = set(), set(), 0
        # flows.json names external addresses "External".
        side = lambda ip: ip if t.is_internal(ip) else "External"
        for src, dst in t.tshark_fields(pcap, "", ["ip.src", "ip.dst"], occurrence="l"):
            if t.is_internal(src) or t.is_internal(dst):  # flows need an inventoried side
                pairs.add(tuple(sorted((side(src), side(dst)))))
                packets += 1
            if t.is_internal(src):
                senders.add(src)
        t.check(senders, "%s: no internal inner sender" % name)
        out = os.path.join(work, "out-" + name)
        assets, flows, _ = t.run_sensor(pcap, out)
        by_ip = t.assets_by_ip(assets)
        missing = sorted(ip for ip in senders if ip not in by_ip)
        t.check(not missing, "%s: inner addresses behind Cisco MetaData are no assets: %s (assets %s)" %
                (name, missing, sorted(by_ip)))
        got = set(t.flow_pair_bytes(flows))
        t.check(pairs <= got, "%s: inner flows missing: %s" % (name, sorted(pairs - got)))
        counted = sum(f["packets"] for f in flows)
        t.check(counted == packets, "%s: flows count %d packets, tshark shows %d inner ones" % (name, counted, packets))
        t.check(not any("10.9.0.1" in p for p in got), "%s: the outer GRE pair is counted as a flow" % name)
        print("%-32s %d inner packets in %d address pairs are flows, %d inner senders assets" %
              (name, packets, len(pairs), len(senders)))

    # 5. SNMP and WS-Discovery through the whole pipeline.
    corpus = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")
    with open(os.path.join(corpus, "snmp", "seed-response"), "rb") as f:
        snmp = f.read()
    with open(os.path.join(corpus, "wsd", "seed-camera-probe-matches"), "rb") as f:
        wsd = f.read()
    with open(os.path.join(corpus, "snmp", "seed-v3-usm"), "rb") as f:
        snmp3 = f.read()

    def udp(src, dst, sport, dport, payload):
        return ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, ttl=64)

    pcap = os.path.join(work, "snmp-wsd.pcap")
    write_pcap(pcap, [eth(PEER_MAC, ROUTER_MAC, 0x0800, udp("10.9.1.1", "10.9.1.9", 161, 50123, snmp)),
                      eth(PEER_MAC, "00:1b:54:c2:11:03", 0x0800, udp("10.9.1.2", "10.9.1.9", 3702, 50124, wsd)),
                      eth(PEER_MAC, "00:1b:54:c2:11:04", 0x0800, udp("10.9.1.3", "10.9.1.9", 161, 50125, snmp3))])
    rows = t.tshark_fields(pcap, "snmp", ["ip.src", "snmp.value.octets"], occurrence="a")
    t.check(rows and rows[0][0] == "10.9.1.1", "tshark reads no SNMP: %r" % rows)
    # tshark prints OCTET STRING values as hex, comma-separated per varbind.
    descr, name = [bytes.fromhex(v.replace(":", "")).decode() for v in rows[0][1].split(",")][:2]
    assets = run(pcap, work, "snmp-wsd")
    by_ip = t.assets_by_ip(assets)
    t.check("10.9.1.1" in by_ip, "the SNMP agent is no asset: %s" % sorted(by_ip))
    agent = by_ip["10.9.1.1"]
    got = {e["field"]: e["value"] for e in t.evidence(agent, "snmp")}
    t.check(got.get("system_description") == descr, "snmp sysDescr: tshark %r, asset %r" % (descr, got))
    t.check(got.get("system_name") == name, "snmp sysName: tshark %r, asset %r" % (name, got))
    t.check(got.get("enterprise") == "9", "snmp enterprise: %r" % got)
    t.check(agent.get("vendor") == "Cisco", "the agent's vendor is %r, not Cisco (IANA PEN 9)" % agent.get("vendor"))
    t.check(agent.get("os_family") == "Cisco IOS", "the agent's OS is %r, its sysDescr says Cisco IOS" % agent.get("os_family"))
    types = t.tshark_fields(pcap, "udp.port == 3702", ["ip.src"])
    t.check(types and types[0][0] == "10.9.1.2", "tshark sees no WS-Discovery datagram: %r" % types)
    t.check(b"<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>" in wsd, "the WSD seed changed")
    t.check("10.9.1.2" in by_ip, "the WS-Discovery device is no asset: %s" % sorted(by_ip))
    cam = by_ip["10.9.1.2"]
    wgot = {e["field"]: e["value"] for e in t.evidence(cam, "wsd")}
    t.check(wgot.get("types") == "dn:NetworkVideoTransmitter tds:Device", "wsd types: %r" % wgot)
    t.check(cam.get("device_type") == "camera", "an ONVIF NetworkVideoTransmitter is a %r" % cam.get("device_type"))
    # SNMPv3: only the USM authoritative engine ID is in the clear.
    eng = t.tshark_fields(pcap, "snmp.msgAuthoritativeEngineID", ["ip.src", "snmp.msgAuthoritativeEngineID",
                                                                   "snmp.engineid.enterprise"])
    t.check(eng and eng[0][0] == "10.9.1.3", "tshark reads no SNMPv3 engine ID: %r" % eng)
    t.check("10.9.1.3" in by_ip, "the SNMPv3 agent is no asset: %s" % sorted(by_ip))
    v3 = {e["field"]: e["value"] for e in t.evidence(by_ip["10.9.1.3"], "snmp")}
    t.check(v3.get("engine_id") == eng[0][1].replace(":", ""), "engine id: tshark %r, asset %r" % (eng[0][1], v3))
    t.check(v3.get("enterprise") == eng[0][2], "engine enterprise: tshark %r, asset %r" % (eng[0][2], v3))
    t.check(by_ip["10.9.1.3"].get("vendor") == "Cisco", "the v3 agent's vendor is %r" % by_ip["10.9.1.3"].get("vendor"))
    print("SNMP / WS-Discovery              agent: vendor %s, os %s; v3 agent: vendor %s; ONVIF device: %s" %
          (agent.get("vendor"), agent.get("os_family"), by_ip["10.9.1.3"].get("vendor"), cam.get("device_type")))


if __name__ == "__main__":
    t.main(main)

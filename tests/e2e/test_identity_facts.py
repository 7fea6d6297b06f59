"""Identity from every protocol that carries it, end to end: for every
capture in ../shared/pcaps that carries identity, each fact tshark extracts
from the file (hostnames from DHCP/mDNS/NBNS/LLMNR, mDNS TXT model, HTTP
User-Agents and Servers, SSDP servers, LLDP/CDP names and platforms, SMB
native OS, NTLM versions, SSH banners, TLS SNI and JA3, S7/ENIP/PROFINET/
BACnet identity) is on the right asset in assets.json; JA4 equals the value
nDPI's result file beside the capture shows. Prints the fraction of facts
found per capture; every one must be found.

Then inference (fingerprinter/data/rules): where a field tshark decodes
states what a device is by a published meaning (DHCP vendor class 'MSFT 5.0'
is Windows' DHCP client; an NTLMSSP version is the Windows build; an LLDP or
CDP router/bridge capability is a network device; a Siemens 6ES7 order
number is a SIMATIC S7 module; a 'Windows NT' or 'Android' User-Agent), the
asset's headline os_family / os_version / device_type says the same."""
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def last(v):
    return v.split(",")[-1] if v else ""


_PROTOCOLS = {}


def protocols(pcap):
    """Every protocol tshark dissects somewhere in the capture (one pass)."""
    if pcap not in _PROTOCOLS:
        found = set()
        for (stack,) in t.tshark_fields(pcap, "", ["frame.protocols"]):
            found.update(stack.split(":"))
        _PROTOCOLS[pcap] = found
    return _PROTOCOLS[pcap]


def rows(pcap, flt, fields, proto=None):
    # tshark takes 0.3 s to start: skip the extractors whose protocol (by
    # default the prefix of the last field) the capture does not carry at all.
    if (proto or fields[-1].split(".")[0]) not in protocols(pcap):
        return []
    return t.tshark_fields(pcap, flt, fields, occurrence="a")


# Each extractor: (captures, display filter, tshark fields, fn(row) -> [(by, key, fields, value)])
# `by` is "ip" or "mac"; `fields` the evidence field names that may carry the value.
def dns_json(pcap, proto):
    """Answers of mDNS/LLMNR responses from tshark's JSON: (src ip, name, type, value)."""
    out = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "%s && dns.flags.response == 1" % proto, "-T", "json"],
                         capture_output=True, text=True).stdout
    res = []
    for pkt in json.loads(out or "[]"):
        layers = pkt["_source"]["layers"]
        src = layers.get("ip", layers.get("ipv6", {}))
        src = src.get("ip.src") or src.get("ipv6.src")
        body = layers.get(proto, {})
        for section in ("Answers", "Additional records"):
            for rr in (body.get(section) or {}).values():
                if isinstance(rr, dict):
                    res.append((src, rr.get("dns.resp.name", ""), rr.get("dns.resp.type", ""),
                                rr.get("dns.a") or rr.get("dns.aaaa"), rr.get("dns.txt")))
    return res


def bacnet_props(pcap):
    out = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "pdml"], capture_output=True, text=True).stdout
    res = []
    for block in out.split("<packet>")[1:]:
        m = re.search(r'name="ip.src" showname="[^"]*" size="\d+" pos="\d+" show="([^"]+)"', block)
        src = m.group(1) if m else None
        for prop, value in re.findall(r'show="(model-name|firmware-revision|vendor-name|object-name|'
                                      r'application-software-version): [^&]*&#x27;([^&]*)&#x27;"', block):
            if src and value:
                res.append((src, prop, value))
    return res


def expected(pcap, rel):
    facts = []  # (by, key, fields, value, what)

    def add(by, key, fields, value, what):
        if key and value:
            facts.append((by, key.lower(), tuple(fields), value, what))

    for mac, host in rows(pcap, "dhcp.type == 1 && dhcp.option.hostname", ["dhcp.hw.mac_addr", "dhcp.option.hostname"]):
        add("mac", last(mac), ["hostname"], host, "dhcp hostname")
    if "mdns" in protocols(pcap):
        for src, name, typ, addr, txt in dns_json(pcap, "mdns"):
            if typ in ("1", "28") and addr and name.endswith(".local"):
                add("ip", addr, ["hostname"], name[:-6], "mdns hostname")
            if txt and isinstance(txt, str):
                for key in ("model", "osxvers"):
                    if txt.startswith(key + "="):
                        add("ip", src, [key], txt[len(key) + 1:], "mdns txt " + key)
    for src, name, typ, addr, txt in (dns_json(pcap, "llmnr") if "llmnr" in protocols(pcap) else []):
        if typ in ("1", "28") and addr:
            add("ip", addr, ["hostname"], name, "llmnr hostname")
    for src, server in rows(pcap, "browser.server", ["ip.src", "browser.server"]):
        # Host announcements name the host; domain announcements the workgroup.
        add("ip", last(src), ["netbios_name", "workgroup"], server.strip(), "browser name")
    for src, ua in rows(pcap, "tcp && http.user_agent", ["ip.src", "http.user_agent"]):
        add("ip", last(src), ["user_agent"], ua, "http user agent")
    for src, server in rows(pcap, "tcp && http.server", ["ip.src", "http.server"]):
        add("ip", last(src), ["server"], server, "http server")
    for src, server, ua in rows(pcap, "udp.port == 1900 && (http.server || http.user_agent)",
                                ["ip.src", "http.server", "http.user_agent"], proto="ssdp"):
        add("ip", last(src), ["server"], server, "ssdp server")
        add("ip", last(src), ["user_agent"], ua, "ssdp user agent")
    for mac, name, desc in rows(pcap, "lldp", ["eth.src", "lldp.tlv.system.name", "lldp.tlv.system.desc"]):
        add("mac", last(mac), ["system_name"], name, "lldp system name")
    for mac, dev, plat in rows(pcap, "cdp", ["eth.src", "cdp.deviceid", "cdp.platform"]):
        add("mac", last(mac), ["device_id"], dev, "cdp device id")
        add("mac", last(mac), ["platform"], plat, "cdp platform")
    for src, nos in rows(pcap, "smb.native_os", ["ip.src", "smb.native_os"]):
        add("ip", last(src), ["native_os"], nos, "smb native os")
    for src, ma, mi, b in rows(pcap, "ntlmssp.version.major", ["ip.src", "ntlmssp.version.major",
                                                               "ntlmssp.version.minor", "ntlmssp.version.build_number"]):
        add("ip", last(src), ["ntlm_version"], "%s.%s.%s" % (ma.split(",")[0], mi.split(",")[0], b.split(",")[0]),
            "ntlm version")
    for src, banner in rows(pcap, "ssh.protocol", ["ip.src", "ssh.protocol"]):
        add("ip", last(src), ["banner"], banner, "ssh banner")
    for src, ja3, sni in rows(pcap, "tls.handshake.type == 1 && tcp", ["ip.src", "tls.handshake.ja3",
                                                                      "tls.handshake.extensions_server_name"]):
        add("ip", last(src), ["ja3"], ja3, "tls ja3")
        add("ip", last(src), ["sni"], sni, "tls sni")
    for src, mlfb_name, serial, cpu in rows(pcap, "s7comm.szl.001c.0005.serialn || s7comm.szl.001c.0007.cputypname",
                                            ["ip.src", "s7comm.szl.001c.0001.name", "s7comm.szl.001c.0005.serialn",
                                             "s7comm.szl.001c.0007.cputypname"]):
        add("ip", last(src), ["plc_name"], mlfb_name, "s7 plc name")
        add("ip", last(src), ["serial"], serial, "s7 serial")
        add("ip", last(src), ["model"], cpu, "s7 module type")
    for src, name in rows(pcap, "enip.lir.name", ["ip.src", "enip.lir.name"]):
        add("ip", last(src), ["model"], name, "enip product name")
    for src, name in rows(pcap, "cip.id.product_name", ["ip.src", "cip.id.product_name"]):
        add("ip", last(src), ["model"], name, "cip identity product name")
    for mac, station in rows(pcap, "pn_dcp.suboption_device_nameofstation && pn_dcp.service_type == 1",
                             ["eth.src", "pn_dcp.suboption_device_nameofstation"]):
        add("mac", last(mac), ["station_name"], station, "profinet station name")
    if "bacnet" in rel:
        fmap = {"model-name": "model", "firmware-revision": "firmware", "vendor-name": "vendor",
                "object-name": "device_name", "application-software-version": "software"}
        for src, prop, value in bacnet_props(pcap):
            add("ip", src, [fmap[prop]], value, "bacnet " + prop)
    # JA4 from nDPI's result file, taking its three known departures from the
    # FoxIO spec into account (IP SNI written as 'i', ALPN http/1.1 as 'ht').
    result = pcap + ".ndpi-result.out"
    if os.path.exists(result):
        with open(result) as f:
            for line in f:
                m = re.search(r"\bTCP (\S+):\d+ <-> \S+ .*\[JA4: ([^\]]+)\]", line)
                if m:
                    add("ip", m.group(1).strip("[]"), ["ja4"], m.group(2), "ja4 (nDPI)")
    return facts


NETWORK_DEVICES = {"network device", "router", "switch", "firewall", "access point"}


def expected_identity(pcap, rel):
    """(by, key, asset field, allowed values, what) from tshark-decoded fields."""
    out = []
    for mac, vc, ttl, prl in rows(pcap, "dhcp.option.vendor_class_id",
                                  ["dhcp.hw.mac_addr", "dhcp.option.vendor_class_id", "ip.ttl",
                                   "dhcp.option.request_list_item"]):
        windows_stack = "31" in prl.split(",") or not prl or int(last(ttl) or 0) > 64
        if vc.startswith("MSFT ") and windows_stack:
            out.append(("mac", last(mac).lower(), "os_family", {"Windows"}, "dhcp vendor class " + vc))
        elif vc.startswith("MSFT "):
            # Windows' class from a stack that is not Windows' (TTL 64, no
            # option 31 in the request list): its TCP stack (p0f) names it.
            out.append(("mac", last(mac).lower(), "os_family", {"Linux"}, "imitated dhcp vendor class " + vc))
        elif vc.startswith("android-dhcp-"):
            out.append(("mac", last(mac).lower(), "os_family", {"Android"}, "dhcp vendor class " + vc))
    for src, ma, mi, b in rows(pcap, "ntlmssp.version.major", ["ip.src", "ntlmssp.version.major",
                                                               "ntlmssp.version.minor", "ntlmssp.version.build_number"]):
        ver = "%s.%s.%s" % (ma.split(",")[0], mi.split(",")[0], b.split(",")[0])
        if int(b.split(",")[0] or 0) >= 2195:  # a Windows build, not Samba's 6.1.0
            out.append(("ip", last(src), "os_family", {"Windows"}, "ntlm version " + ver))
            out.append(("ip", last(src), "os_version", {ver}, "ntlm version " + ver))
    for src, nos in rows(pcap, "smb.native_os", ["ip.src", "smb.native_os"]):
        m = re.match(r"Windows (\d+|Server \d+|Vista|XP)", nos)
        if m:
            out.append(("ip", last(src), "os_family", {"Windows"}, "smb native os " + nos))
    for mac, caps in rows(pcap, "lldp.tlv.enable_system_cap", ["eth.src", "lldp.tlv.enable_system_cap"]):
        if int(caps.split(",")[0], 16) & 0x14:  # bridge or router enabled
            out.append(("mac", last(mac).lower(), "device_type", NETWORK_DEVICES, "lldp capabilities " + caps))
    for mac, caps in rows(pcap, "cdp.capabilities", ["eth.src", "cdp.capabilities"]):
        if int(caps.split(",")[0], 16) & 0x0b:  # router, transparent or source-route bridge
            out.append(("mac", last(mac).lower(), "device_type", NETWORK_DEVICES, "cdp capabilities " + caps))
    for src, ua in rows(pcap, "tcp && http.user_agent", ["ip.src", "http.user_agent"]):
        if re.match(r"Mozilla/\d\.\d \(Windows NT ", ua):
            out.append(("ip", last(src), "os_family", {"Windows"}, "user agent " + ua[:40]))
        elif re.match(r"Mozilla/\d\.\d \(Linux; Android ", ua):
            out.append(("ip", last(src), "os_family", {"Android"}, "user agent " + ua[:40]))
    if "s7comm" in rel:
        for src, mlfb in rows(pcap, "s7comm.szl.xy11.0001.anz", ["ip.src", "s7comm.szl.xy11.0001.anz"]):
            if mlfb.startswith("6ES7"):
                out.append(("ip", last(src), "device_type", {"PLC"}, "s7 order number " + mlfb.split(",")[0]))
    return out


def ja4_variants(v):
    out = {v}
    if len(v) > 3 and v[3] == "i":
        out.add(v[:3] + "d" + v[4:])
    head = v.split("_")[0]
    if head.endswith("ht"):
        out |= {w.replace(head, head[:-2] + "h1", 1) for w in list(out)}
    return out


CAPTURES = [
    "dhcp/1kxun.pcap", "dhcp/dhcp.pcap", "dhcp/dhcp-mud.pcap", "mdns/iphone.pcap", "mdns/mdns.pcap",
    "nbns/netbios.pcap", "dns/var-services-std-ports.pcap", "http-ua/windowsupdate_over_http.pcap",
    "smb-os/smbv1.pcap", "lldp/lldp.pcap", "lldp/lldp_mudurl.pcap", "cdp/cdp-v1.pcap",
    "ssdp/raw_packets.pcap", "ssdp/ssdp-m-search-ua.pcap", "tls/chrome.pcap", "tls/firefox.pcap",
    "tls/chrome-1250-tls-x25519-kyber.pcap", "tcp-syn-os/sites.pcapng", "ssh/ssh.pcap", "ssh/ssh_version_199.pcap",
    "s7comm/s7ident.pcap", "s7comm/s7comm_reading_plc_status.pcap", "enip/enip_test.pcap",
    "profinet/ChangeIPUsingDCP.pcap", "bacnet/bacnet_test.pcap", "vlan/http-vlan-0.pcap",
    "vxlan/vxlan-encapsulated-http.pcap", "geneve/geneve-47101.pcap", "gre/gre-sample.pcap",
    "erspan/erspan-type-i-4.pcap", "bench/smb3_multichannel.pcap", "bench/EIP-ChangePortConfigurationAttempt.pcap",
    "devices/shs_hidden_patterns/TapoCamera_boot_1741368970.pcap",
]


def run():
    t.need("tshark")
    total = found = 0
    report = []
    failures = []
    inferred = inferred_ok = 0
    inference_failures = []
    for rel in CAPTURES:
        pcap = t.shared_pcap(rel)
        facts = expected(pcap, rel)
        if not facts:
            continue
        work = t.tmpdir()
        cfg = t.write_config(work, t.ALL_INTERNAL)
        assets, _, _ = t.run_sensor(pcap, os.path.join(work, "out"), config=cfg)
        by_ip = t.assets_by_ip(assets)
        by_mac = t.assets_by_mac(assets)
        n = ok = 0
        seen = set()
        for by, key, fields, value, what in facts:
            if (by, key, fields, value) in seen:
                continue
            seen.add((by, key, fields, value))
            n += 1
            a = (by_ip if by == "ip" else by_mac).get(key)
            have = {e["value"] for e in (a or {}).get("evidence", []) if e["field"] in fields}
            want = ja4_variants(value) if fields == ("ja4",) else {value}
            if have & want:
                ok += 1
            else:
                failures.append("%s: %s %s=%r on %s %s (asset %s, has %s)" % (
                    rel, what, fields[0], value, by, key, "found" if a else "missing", sorted(have)[:4]))
        total += n
        found += ok
        done = set()
        for by, key, field, allowed, what in expected_identity(pcap, rel):
            if (by, key, field, what) in done:
                continue
            done.add((by, key, field, what))
            inferred += 1
            a = (by_ip if by == "ip" else by_mac).get(key)
            if a is not None and a.get(field) in allowed:
                inferred_ok += 1
            else:
                inference_failures.append("%s: %s on %s %s: %s is %r, want one of %s" % (
                    rel, what, by, key, field, (a or {}).get(field, "<no asset>"), sorted(allowed)))
        report.append("%-48s %4d/%-4d %5.1f%%" % (rel, ok, n, 100.0 * ok / n))
    print("facts found on the right asset, per capture:")
    print("\n".join(report))
    print("total %d/%d" % (found, total))
    print("inferred identity agreeing with tshark-decoded fields: %d/%d" % (inferred_ok, inferred))
    for f in inference_failures:
        print("  " + f)
    t.check(total > 200, "too few facts compared (%d)" % total)
    t.check(inferred >= 15, "too few inference checks (%d)" % inferred)
    t.check(not inference_failures, "%d inferred fields disagree" % len(inference_failures))
    t.check(not failures, "%d facts missing, e.g.\n  %s" % (len(failures), "\n  ".join(failures[:15])))


t.main(run)

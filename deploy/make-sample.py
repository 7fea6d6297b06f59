#!/usr/bin/python3
"""Builds tapsense's bundled sample capture: ten minutes of a small office LAN.

The repository ships no third-party captures, so the quickstart runs the sensor
on this one. Everything in it is synthetic but shaped like the real thing:
vendor MAC prefixes from the IEEE registry, DHCP/NBNS/mDNS/SSDP/LLMNR as the
named operating systems send them, TCP SYNs with the IP and TCP header layouts
that p0f 3 recognises, CDP and LLDP from the Cisco router and switch, HTTP user agents,
TLS ClientHellos with SNI, SSH banners, and a NAT box with a Windows PC and a Linux
box behind one address.
Every frame is a complete Ethernet frame with correct lengths and checksums
(scapy computes them) padded to the 60-byte Ethernet minimum.

Deterministic: the same --seed gives the same bytes (fixed start time
2024-03-04T09:00:00Z, no wall clock, no unseeded randomness).

usage: make-sample.py OUT.pcap [--seed N] [--copies N]
writes: OUT.pcap (classic pcap, microseconds, Ethernet)
        OUT.truth.json (what was put in: devices, names, user agents, ...;
        documentation for people, and the list of things tests look for with
        tshark and p0f, which stay the independent readers)
needs:  Debian's python3-scapy; run it with /usr/bin/python3.

--copies N makes a larger capture for fault tests and benchmarks: N offices
at once, copy c with its LAN moved to 10.(c/256).(c%256).0/24 and the last
three bytes of its MACs changed (vendor prefixes kept), interleaved in time,
every IPv4, TCP and UDP checksum recomputed. The truth file describes copy 0.
"""
import argparse
import json
import os
import random
import struct
import sys

try:
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.contrib.cdp import (CDPAddrRecordIPv4, CDPMsgAddr, CDPMsgCapabilities, CDPMsgDeviceID,
                                   CDPMsgPlatform, CDPMsgPortID, CDPMsgSoftwareVersion, CDPv2_HDR)
    from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUManagementAddress, LLDPDUPortID,
                                    LLDPDUSystemCapabilities, LLDPDUSystemDescription, LLDPDUSystemName,
                                    LLDPDUTimeToLive)
    from scapy.layers.l2 import ARP, LLC, SNAP, Dot3, Ether
    from scapy.layers.llmnr import LLMNRQuery
    from scapy.layers.netbios import NBNSHeader, NBNSQueryRequest, NBNSRegistrationRequest
    from scapy.packet import Raw
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit('make-sample.py needs scapy: apt-get install python3-scapy, '
             'and run it with /usr/bin/python3')

START = 1709542800  # 2024-03-04T09:00:00Z
DURATION = 600      # seconds of packet time
BROADCAST = 'ff:ff:ff:ff:ff:ff'

# ---------------------------------------------------------------------------
# The LAN. MAC prefixes are real IEEE MA-L assignments (/usr/share/ieee-data/oui.csv).

DEVICES = [
    dict(key='gateway', hostname='gw-office', mac='6c:41:6a:1e:04:01', ip='192.168.10.1',
         vendor='Cisco Systems, Inc', os='Cisco IOS XE', role='router, DHCP server',
         os_family='Cisco IOS XE', device_type='router'),
    dict(key='switch', hostname='sw-floor1', mac='00:1b:54:c2:7a:10', ip='192.168.10.2',
         vendor='Cisco Systems, Inc', os='Cisco IOS', role='switch (management address)',
         os_family='Cisco IOS', device_type='switch'),
    dict(key='win', hostname='WIN-ACCT-07', mac='f8:bc:12:53:9e:07', ip='192.168.10.21',
         vendor='Dell Inc.', os='Windows 10', role='workstation', stack='windows',
         p0f='Windows', os_family='Windows', device_type='computer'),
    dict(key='ubuntu', hostname='ubuntu-dev', mac='a4:bb:6d:71:c0:23', ip='192.168.10.23',
         vendor='Dell Inc.', os='Ubuntu 22.04 (Linux 5.15)', role='workstation',
         stack='linux', p0f='Linux', os_family='Linux'),
    dict(key='mac', hostname='alice-macbook', mac='3c:22:fb:a8:5d:16', ip='192.168.10.22',
         vendor='Apple, Inc.', os='macOS 13 Ventura', role='laptop', stack='macos',
         p0f='Mac OS X', os_family='macOS', device_type='computer'),
    dict(key='pi', hostname='raspberrypi', mac='dc:a6:32:4b:90:1e', ip='192.168.10.30',
         vendor='Raspberry Pi Trading Ltd', os='Raspberry Pi OS (Linux 4.19)',
         role='SSH server, apt client', stack='linux_old', p0f='Linux', os_family='Linux'),
    dict(key='phone', hostname='Galaxy-S21', mac='8c:71:f8:2d:66:b3', ip='192.168.10.40',
         vendor='Samsung Electronics Co.,Ltd', os='Android 13', role='phone',
         stack='android', p0f='Linux', os_family='Android', device_type='phone'),
    dict(key='printer', hostname='HP-LaserJet-M404', mac='38:22:e2:0c:5f:41',
         ip='192.168.10.50', vendor='HP Inc.', os='HP LaserJet firmware', role='printer',
         device_type='printer'),
    # A lab router doing NAT for a Windows PC and a Linux box behind it: their
    # TCP arrives with TTLs one hop short of 128 and 64 from one address.
    dict(key='natbox', hostname=None, mac='50:c7:bf:3e:81:60', ip='192.168.10.60',
         vendor='TP-LINK TECHNOLOGIES CO.,LTD.', os='TP-Link router firmware (Linux)',
         role='NAT router (a Windows PC and a Linux box behind it)', stack='linux', nat=True),
]

# The hosts behind the NAT box: its address and MAC, their own stacks, one hop
# further away.
BEHIND_NAT = [dict(key='nat_win', stack='windows', hops=1), dict(key='nat_linux', stack='linux', hops=1)]

SERVERS = [
    dict(key='dns', name='one.one.one.one', ip='1.1.1.1', role='public DNS resolver', ttl=57),
    dict(key='example', name='example.com', ip='93.184.216.34', role='web server', ttl=52),
    dict(key='neverssl', name='neverssl.com', ip='34.223.124.45', role='web server', ttl=45),
    dict(key='wikipedia', name='www.wikipedia.org', ip='185.15.59.224', role='web server', ttl=56),
    dict(key='apple', name='www.apple.com', ip='17.253.144.10', role='web server', ttl=55),
    dict(key='google', name='www.google.com', ip='142.250.185.68', role='web server', ttl=116),
    dict(key='gstatic', name='connectivitycheck.gstatic.com', ip='142.250.185.99',
         role='web server', ttl=116),
    dict(key='github', name='github.com', ip='140.82.121.4', role='web and SSH server', ttl=51),
    dict(key='debian', name='deb.debian.org', ip='151.101.2.132', role='web server', ttl=58),
]

# DHCP as these clients send it (option 55 order matters to fingerprinting).
DHCP_CLIENTS = {
    'win': dict(vendor_class=b'MSFT 5.0', ttl=128, max_size=None,
                prl=[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]),
    'mac': dict(vendor_class=None, ttl=255, max_size=1500,
                prl=[1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46]),
    'pi': dict(vendor_class=b'dhcpcd-8.1.2:Linux-4.19.118-v7l+:armv7l:BCM2711', ttl=64,
               max_size=1472, prl=[1, 121, 33, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119]),
    'phone': dict(vendor_class=b'android-dhcp-13', ttl=64, max_size=1500,
                  prl=[1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108]),
    'ubuntu': dict(vendor_class=None, ttl=64, max_size=576,
                   prl=[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]),
}

# TCP/IP stacks. SYN layouts follow /etc/p0f/p0f.fp:
#   windows:   *:128:0:*:*,*:mss,nop,ws,nop,nop,sok:df,id+:0        (NT kernel)
#   linux:     *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0              (2.2.x-3.x generic)
#   linux_old: *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0         (3.11 and newer)
#   macos:     *:64:0:*:65535,*:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
#   android:   Linux layout with win 65535, ws 9 (p0f says Linux)
STACKS = {
    'windows': dict(ttl=128, syn_win=64240, ws=8, ts=False, layout='win', win=1026),
    'linux': dict(ttl=64, syn_win=64240, ws=7, ts=True, layout='linux', win=502),
    'linux_old': dict(ttl=64, syn_win=29200, ws=7, ts=True, layout='linux', win=229),
    'macos': dict(ttl=64, syn_win=65535, ws=6, ts=True, layout='mac', win=2058),
    'android': dict(ttl=64, syn_win=65535, ws=9, ts=True, layout='linux', win=343),
    # Servers answer SYNs like Linux: mss,sok,ts,nop,ws (mss,nop,nop,sok,nop,ws without ts).
    'server': dict(ttl=64, syn_win=65160, ws=7, ts=True, layout='linux', win=509),
}

UA = {
    'win_chrome': ('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
                   '(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36'),
    'mac_safari': ('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 '
                   '(KHTML, like Gecko) Version/16.3 Safari/605.1.15'),
    'pi_apt': 'Debian APT-HTTP/1.3 (1.8.2.3)',
    'phone_dalvik': 'Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)',
}

SSH_BANNERS = {
    'mac_client': 'SSH-2.0-OpenSSH_9.0',
    'pi_server': 'SSH-2.0-OpenSSH_7.9p1 Raspbian-10+deb10u2',
    'ubuntu_client': 'SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6',
    'github_server': 'SSH-2.0-babeld-05989c77',
}

# What the Cisco boxes say about themselves: CDP from the router, LLDP from
# the switch (banners in the form IOS XE and IOS print them).
CDP_GATEWAY = dict(device_id='gw-office', platform='cisco ISR4331/K9', port='GigabitEthernet0/0/1',
                   software='Cisco IOS XE Software, Version 16.09.04\nCisco IOS Software [Fuji], ISR Software '
                            '(X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 16.9.4, RELEASE SOFTWARE (fc2)')
LLDP_SWITCH = dict(system_name='sw-floor1', port='Gi0/1',
                   description='Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, '
                               'RELEASE SOFTWARE (fc3)')

SSDP_SERVER = 'HP HTTP Server; HP LaserJet Pro M404dn - W1A53A; Serial Number: PHBQC12345; Built: Thu Jan 12 2023'


def multicast_mac(ip):
    a = [int(x) for x in ip.split('.')]
    return '01:00:5e:%02x:%02x:%02x' % (a[1] & 0x7f, a[2], a[3])


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(':'))


# ---------------------------------------------------------------------------
# Output

class Capture:
    def __init__(self):
        self.frames = []  # (t_us, ordinal, bytes)

    def emit(self, t_us, pkt):
        raw = bytes(pkt)
        if len(raw) < 60:  # Ethernet minimum without FCS, as a mirror port sees it
            raw += b'\x00' * (60 - len(raw))
        self.frames.append((int(t_us), len(self.frames), raw))

    def write(self, path):
        self.frames.sort(key=lambda f: (f[0], f[1]))
        with open(path, 'wb') as fh:
            fh.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
            for t_us, _, raw in self.frames:
                fh.write(struct.pack('<IIII', START + t_us // 1_000_000, t_us % 1_000_000,
                                     len(raw), len(raw)))
                fh.write(raw)
        return len(self.frames)


class Host:
    def __init__(self, d, rng):
        self.__dict__.update(d)
        if self.mac is not None:  # on the LAN: the TTL its stack starts with
            self.ttl = STACKS[self.stack]['ttl'] if 'stack' in d else 64
        self.ip_id = rng.randrange(1000, 60000)
        self.ts_base = rng.randrange(10_000_000, 3_000_000_000)
        self.next_port = rng.randrange(49152, 60000)

    def next_id(self):
        self.ip_id = self.ip_id % 65535 + 1  # never 0: p0f's "id+" wants DF with a non-zero ID
        return self.ip_id

    def ephemeral(self):
        self.next_port += 1 + (self.ip_id % 7)
        return self.next_port


class Net:
    """Builds frames between hosts; public servers sit behind the gateway."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.cap = Capture()
        self.hosts = {d['key']: Host(d, self.rng) for d in DEVICES}
        for s in SERVERS:
            h = Host(dict(s, mac=None, stack='server'), self.rng)
            self.hosts[s['key']] = h
        box = next(d for d in DEVICES if d['key'] == 'natbox')
        for b in BEHIND_NAT:
            self.hosts[b['key']] = Host(dict(box, **b), self.rng)
        self.gw = self.hosts['gateway']

    def local(self, h):
        return h.mac is not None

    def l2(self, src, dst):
        smac = src.mac if self.local(src) else self.gw.mac
        dmac = dst.mac if self.local(dst) else self.gw.mac
        return Ether(src=smac, dst=dmac)

    def udp(self, t, src, dst, sport, dport, payload):
        self.cap.emit(t, self.l2(src, dst) /
                      IP(src=src.ip, dst=dst.ip, ttl=src.ttl, id=src.next_id(), flags='DF') /
                      UDP(sport=sport, dport=dport) / payload)

    def jitter(self, lo, hi):
        return self.rng.randrange(lo, hi)


# ---------------------------------------------------------------------------
# Link-local protocols

def arp_who_has(net, t, asker, target_ip, answer=True):
    h = asker
    net.cap.emit(t, Ether(src=h.mac, dst=BROADCAST) /
                 ARP(op=1, hwsrc=h.mac, psrc=h.ip, hwdst='00:00:00:00:00:00', pdst=target_ip))
    if answer:
        owner = next(x for x in net.hosts.values() if net.local(x) and x.ip == target_ip)
        net.cap.emit(t + net.jitter(150, 900), Ether(src=owner.mac, dst=h.mac) /
                     ARP(op=2, hwsrc=owner.mac, psrc=owner.ip, hwdst=h.mac, pdst=h.ip))


def arp_announce(net, t, h, probe=True):
    """RFC 5227: probes (sender 0.0.0.0) then a gratuitous announcement."""
    if probe:
        for k in range(2):
            net.cap.emit(t + k * 1_000_000, Ether(src=h.mac, dst=BROADCAST) /
                         ARP(op=1, hwsrc=h.mac, psrc='0.0.0.0', hwdst='00:00:00:00:00:00', pdst=h.ip))
        t += 2_000_000
    net.cap.emit(t, Ether(src=h.mac, dst=BROADCAST) /
                 ARP(op=1, hwsrc=h.mac, psrc=h.ip, hwdst='00:00:00:00:00:00', pdst=h.ip))


def cdp_announce(net, t, h):
    """CDPv2 over 802.3 + LLC/SNAP to 01:00:0c:cc:cc:cc; capabilities: router, IGMP."""
    c = CDP_GATEWAY
    msg = [CDPMsgDeviceID(val=c['device_id'].encode()),
           CDPMsgAddr(addr=[CDPAddrRecordIPv4(addr=h.ip)]),
           CDPMsgPortID(iface=c['port'].encode()),
           CDPMsgCapabilities(cap=0x21),
           CDPMsgSoftwareVersion(val=c['software'].encode()),
           CDPMsgPlatform(val=c['platform'].encode())]
    net.cap.emit(t, Dot3(src=h.mac, dst='01:00:0c:cc:cc:cc') / LLC(dsap=0xaa, ssap=0xaa, ctrl=3) /
                 SNAP(OUI=0x00000c, code=0x2000) / CDPv2_HDR(vers=2, ttl=180, msg=msg))


def lldp_announce(net, t, h):
    """LLDP to the nearest-bridge group: bridge capability, IPv4 management address."""
    c = LLDP_SWITCH
    net.cap.emit(t, Ether(src=h.mac, dst='01:80:c2:00:00:0e', type=0x88cc) /
                 LLDPDUChassisID(subtype=4, id=h.mac) / LLDPDUPortID(subtype=5, id=c['port']) /
                 LLDPDUTimeToLive(ttl=120) / LLDPDUSystemName(system_name=c['system_name']) /
                 LLDPDUSystemDescription(description=c['description']) /
                 LLDPDUSystemCapabilities(mac_bridge_available=1, mac_bridge_enabled=1) /
                 LLDPDUManagementAddress(management_address_subtype=1,
                                         management_address=bytes(int(x) for x in h.ip.split('.')),
                                         interface_numbering_subtype=2, interface_number=10101) /
                 LLDPDUEndOfLLDPDU())


def dhcp_dora(net, t, key):
    h = net.hosts[key]
    c = DHCP_CLIENTS[key]
    gw = net.gw
    xid = net.rng.randrange(1 << 32)
    chaddr = mac_bytes(h.mac) + b'\x00' * 10

    def client_opts(kind, extra):
        o = [('message-type', kind), ('client_id', b'\x01' + mac_bytes(h.mac))]
        o += extra
        if c['max_size']:
            o.append(('max_dhcp_size', c['max_size']))
        o.append(('hostname', h.hostname.encode()))
        if c['vendor_class']:
            o.append(('vendor_class_id', c['vendor_class']))
        o.append(('param_req_list', c['prl']))
        o.append('end')
        return o

    def client(tt, kind, extra, secs):
        net.cap.emit(tt, Ether(src=h.mac, dst=BROADCAST) /
                     IP(src='0.0.0.0', dst='255.255.255.255', ttl=c['ttl'], id=h.next_id()) /
                     UDP(sport=68, dport=67) /
                     BOOTP(op=1, xid=xid, secs=secs, flags=0, chaddr=chaddr) /
                     DHCP(options=client_opts(kind, extra)))

    def server(tt, kind):
        net.cap.emit(tt, Ether(src=gw.mac, dst=BROADCAST) /
                     IP(src=gw.ip, dst='255.255.255.255', ttl=255, id=gw.next_id()) /
                     UDP(sport=67, dport=68) /
                     BOOTP(op=2, xid=xid, yiaddr=h.ip, siaddr=gw.ip, flags=0x8000, chaddr=chaddr) /
                     DHCP(options=[('message-type', kind), ('server_id', gw.ip),
                                   ('lease_time', 86400), ('renewal_time', 43200),
                                   ('rebinding_time', 75600), ('subnet_mask', '255.255.255.0'),
                                   ('router', gw.ip), ('name_server', '1.1.1.1', '1.0.0.1'),
                                   ('domain', b'office.lan'),
                                   ('broadcast_address', '192.168.10.255'), 'end']))

    client(t, 'discover', [], 0)
    t += net.jitter(2000, 6000)
    server(t, 'offer')
    t += net.jitter(3000, 40000)
    client(t, 'request', [('requested_addr', h.ip), ('server_id', gw.ip)], 0)
    t += net.jitter(2000, 6000)
    server(t, 'ack')
    return t + net.jitter(20000, 80000)


def nbns_register(net, t, h, names):
    """Windows broadcasts each registration three times, 750 ms apart."""
    for name, group in names:
        tid = net.rng.randrange(1 << 16)
        for k in range(3):
            pkt = (NBNSHeader(NAME_TRN_ID=tid, OPCODE=5, NM_FLAGS=0x11, QDCOUNT=1, ARCOUNT=1) /
                   NBNSRegistrationRequest(QUESTION_NAME=name, SUFFIX='workstation', RR_NAME=0xC00C,
                                           TTL=300000, G=group, NB_ADDRESS=h.ip))
            net.cap.emit(t + k * 750_000, Ether(src=h.mac, dst=BROADCAST) /
                         IP(src=h.ip, dst='192.168.10.255', ttl=128, id=h.next_id()) /
                         UDP(sport=137, dport=137) / pkt)
        t += net.jitter(5000, 20000)
    return t + 2_300_000


def nbns_query(net, t, h, name):
    pkt = (NBNSHeader(NAME_TRN_ID=net.rng.randrange(1 << 16), OPCODE=0, NM_FLAGS=0x11, QDCOUNT=1) /
           NBNSQueryRequest(QUESTION_NAME=name, SUFFIX='workstation'))
    net.cap.emit(t, Ether(src=h.mac, dst=BROADCAST) /
                 IP(src=h.ip, dst='192.168.10.255', ttl=128, id=h.next_id()) /
                 UDP(sport=137, dport=137) / pkt)


def llmnr_query(net, t, h, name):
    net.cap.emit(t, Ether(src=h.mac, dst=multicast_mac('224.0.0.252')) /
                 IP(src=h.ip, dst='224.0.0.252', ttl=1, id=h.next_id()) /
                 UDP(sport=h.ephemeral(), dport=5355) /
                 LLMNRQuery(id=net.rng.randrange(1 << 16), qd=DNSQR(qname=name, qtype='A')))


def mdns_announce(net, t, h, model, osxvers):
    an = (DNSRR(rrname=h.hostname + '.local.', type='A', rclass=0x8001, ttl=120, rdata=h.ip) /
          DNSRR(rrname=h.hostname + '._device-info._tcp.local.', type='TXT', rclass=1, ttl=4500,
                rdata=[b'model=' + model.encode(), b'osxvers=' + osxvers.encode()]))
    pkt = DNS(id=0, qr=1, aa=1, qd=None, qdcount=0, an=an)
    for k, gap in enumerate((0, 1_000_000, 2_000_000)):  # RFC 6762: announce at least twice
        net.cap.emit(t + gap, Ether(src=h.mac, dst=multicast_mac('224.0.0.251')) /
                     IP(src=h.ip, dst='224.0.0.251', ttl=255, id=h.next_id()) /
                     UDP(sport=5353, dport=5353) / pkt)


def ssdp_notify(net, t, h):
    uuid = 'uuid:564e4333-4a38-3153-3032-3822e20c5f41'
    for nt, usn in (('upnp:rootdevice', uuid + '::upnp:rootdevice'),
                    (uuid, uuid),
                    ('urn:schemas-upnp-org:device:Printer:1',
                     uuid + '::urn:schemas-upnp-org:device:Printer:1')):
        body = ('NOTIFY * HTTP/1.1\r\n'
                'HOST: 239.255.255.250:1900\r\n'
                'CACHE-CONTROL: max-age=1800\r\n'
                'LOCATION: http://%s:8080/description.xml\r\n'
                'NT: %s\r\n'
                'NTS: ssdp:alive\r\n'
                'SERVER: %s\r\n'
                'USN: %s\r\n'
                '\r\n') % (h.ip, nt, SSDP_SERVER, usn)
        net.cap.emit(t, Ether(src=h.mac, dst=multicast_mac('239.255.255.250')) /
                     IP(src=h.ip, dst='239.255.255.250', ttl=4, id=h.next_id(), flags=0) /
                     UDP(sport=1900, dport=1900) / Raw(body.encode()))
        t += net.jitter(200, 2000)


def dns_lookup(net, t, h, qname, qtype, answers):
    """One query to the public resolver and its answer. answers: list of (type, rdata)."""
    srv = net.hosts['dns']
    sport = h.ephemeral()
    qid = net.rng.randrange(1 << 16)
    net.udp(t, h, srv, sport, 53, DNS(id=qid, rd=1, qd=DNSQR(qname=qname, qtype=qtype)))
    an = None
    for rtype, rdata in answers:
        rr = DNSRR(rrname=qname, type=rtype, ttl=300, rdata=rdata)
        an = rr if an is None else an / rr
    resp = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype=qtype), an=an,
               rcode=0 if answers else 3)
    t += net.jitter(9000, 25000)
    net.udp(t, srv, h, 53, sport, resp)
    return t + net.jitter(500, 3000)


# ---------------------------------------------------------------------------
# TCP

def syn_options(layout, mss, ws, tsval, sack=True, ts=True):
    if layout == 'win':
        return [('MSS', mss), ('NOP', None), ('WScale', ws), ('NOP', None), ('NOP', None),
                ('SAckOK', b'')]
    if layout == 'mac':
        return [('MSS', mss), ('NOP', None), ('WScale', ws), ('NOP', None), ('NOP', None),
                ('Timestamp', (tsval, 0)), ('SAckOK', b''), ('EOL', None)]
    return [('MSS', mss), ('SAckOK', b''), ('Timestamp', (tsval, 0)), ('NOP', None),
            ('WScale', ws)]


class TcpFlow:
    """One TCP connection with consistent sequence numbers, windows and timestamps."""

    def __init__(self, net, cli, srv, dport, rtt_us):
        self.net, self.cli, self.srv, self.dport = net, cli, srv, dport
        self.sport = cli.ephemeral()
        self.rtt = rtt_us
        self.cs = STACKS[cli.stack]
        self.ss = STACKS[srv.stack]
        self.cseq = net.rng.randrange(1 << 32)
        self.sseq = net.rng.randrange(1 << 32)
        self.ts = self.cs['ts']  # server echoes what the client offers
        self.cts_seen = 0
        self.sts_seen = 0

    def _tsval(self, h, t):
        return (h.ts_base + t // 1000) & 0xffffffff

    def _seg(self, t, from_cli, flags, payload=b'', syn_opts=None):
        src, dst = (self.cli, self.srv) if from_cli else (self.srv, self.cli)
        stack = self.cs if from_cli else self.ss
        seq = self.cseq if from_cli else self.sseq
        ack = (self.sseq if from_cli else self.cseq) if 'A' in flags else 0
        if syn_opts is not None:
            opts, win = syn_opts, stack['syn_win']
        else:
            win = stack['win']
            opts = []
            if self.ts:
                mine = self._tsval(src, t)
                echo = self.sts_seen if from_cli else self.cts_seen
                opts = [('NOP', None), ('NOP', None), ('Timestamp', (mine, echo))]
        if self.ts and syn_opts is None:
            if from_cli:
                self.cts_seen = self._tsval(src, t)
            else:
                self.sts_seen = self._tsval(src, t)
        ttl = stack['ttl'] - getattr(src, 'hops', 0) if self.net.local(src) else src.ttl
        pkt = (self.net.l2(src, dst) /
               IP(src=src.ip, dst=dst.ip, ttl=ttl, id=src.next_id(), flags='DF') /
               TCP(sport=self.sport if from_cli else self.dport,
                   dport=self.dport if from_cli else self.sport,
                   seq=seq, ack=ack, flags=flags, window=win, options=opts))
        if payload:
            pkt = pkt / Raw(payload)
        self.net.cap.emit(t, pkt)
        adv = len(payload) + (1 if ('S' in flags or 'F' in flags) else 0)
        if from_cli:
            self.cseq = (self.cseq + adv) & 0xffffffff
        else:
            self.sseq = (self.sseq + adv) & 0xffffffff

    def open(self, t):
        c, s = self.cs, self.ss
        tsval = self._tsval(self.cli, t)
        self._seg(t, True, 'S', syn_opts=syn_options(c['layout'], 1460, c['ws'], tsval))
        self.cts_seen = tsval
        t += self.rtt
        if self.ts:
            sopts = [('MSS', 1460), ('SAckOK', b''), ('Timestamp', (self._tsval(self.srv, t), tsval)),
                     ('NOP', None), ('WScale', s['ws'])]
            self.sts_seen = self._tsval(self.srv, t)
        else:
            sopts = [('MSS', 1460), ('NOP', None), ('NOP', None), ('SAckOK', b''), ('NOP', None),
                     ('WScale', s['ws'])]
        self._seg(t, False, 'SA', syn_opts=sopts)
        t += self.net.jitter(80, 400)
        self._seg(t, True, 'A')
        return t + self.net.jitter(200, 2000)

    def send(self, t, from_cli, data):
        """Sends data in MSS-sized segments; the receiver ACKs every second one."""
        mss = 1448 if self.ts else 1460
        chunks = [data[i:i + mss] for i in range(0, len(data), mss)]
        one_way = self.rtt // 2
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self._seg(t, from_cli, 'PA' if last else 'A', chunk)
            if i % 2 == 1 or last:
                self._seg(t + one_way, not from_cli, 'A')
            t += self.net.jitter(30, 250)
        return t + one_way + self.net.jitter(300, 3000)

    def close(self, t, from_cli=True):
        self._seg(t, from_cli, 'FA')
        t += self.rtt // 2 + self.net.jitter(100, 900)
        self._seg(t, not from_cli, 'FA')
        t += self.rtt // 2 + self.net.jitter(100, 900)
        self._seg(t, from_cli, 'A')
        return t


def rtt_to(net, srv):
    return net.jitter(300, 900) if net.local(srv) else net.jitter(14000, 45000)


# ---------------------------------------------------------------------------
# Applications over TCP

def http_get(net, t, cli, srv_key, host, path, ua, server_hdr, body_len, accept='*/*'):
    srv = net.hosts[srv_key]
    f = TcpFlow(net, cli, srv, 80, rtt_to(net, srv))
    t = f.open(t)
    req = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: %s\r\n'
           'Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n'
           % (path, host, ua, accept)).encode()
    t = f.send(t, True, req)
    body = bytes((0x41 + (i * 7 + body_len) % 26) for i in range(body_len))
    status = '200 OK' if body_len else '204 No Content'
    resp = ('HTTP/1.1 %s\r\nServer: %s\r\nContent-Type: text/html; charset=UTF-8\r\n'
            'Content-Length: %d\r\nCache-Control: max-age=604800\r\n\r\n'
            % (status, server_hdr, body_len)).encode() + body
    t = f.send(t, False, resp)
    return f.close(t + net.jitter(5000, 200000))


def tls_ext(etype, body):
    return struct.pack('!HH', etype, len(body)) + body


def vec8(b):
    return struct.pack('!B', len(b)) + b


def vec16(b):
    return struct.pack('!H', len(b)) + b


def u16s(vals):
    return b''.join(struct.pack('!H', v) for v in vals)


TLS_PROFILES = {
    # Chrome 122 on Windows / Linux, Chrome-based Android WebView: GREASE, 15 suites.
    'chrome': dict(
        grease=True,
        suites=[0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
        exts=['sni', 'ems', 'reneg', 'groups', 'ecpf', 'ticket', 'alpn', 'status', 'sigalgs',
              'sct', 'keyshare', 'pskmodes', 'versions', 'compress'],
        groups=[0x001d, 0x0017, 0x0018],
        sigalgs=[0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
        versions=[0x0304, 0x0303]),
    # Safari 16 on macOS.
    'safari': dict(
        grease=True,
        suites=[0x1301, 0x1302, 0x1303, 0xc02c, 0xc02b, 0xcca9, 0xc030, 0xc02f, 0xcca8,
                0xc00a, 0xc009, 0xc014, 0xc013, 0x009d, 0x009c, 0x0035, 0x002f, 0xc008,
                0xc012, 0x000a],
        exts=['sni', 'ems', 'reneg', 'groups', 'ecpf', 'alpn', 'status', 'sigalgs', 'sct',
              'keyshare', 'pskmodes', 'versions', 'compress'],
        groups=[0x001d, 0x0017, 0x0018, 0x0019],
        sigalgs=[0x0403, 0x0804, 0x0401, 0x0503, 0x0203, 0x0805, 0x0805, 0x0501, 0x0806,
                 0x0601, 0x0201],
        versions=[0x0304, 0x0303, 0x0302, 0x0301]),
}


def client_hello(rng, sni, profile):
    p = TLS_PROFILES[profile]
    grease = [0x0a0a + 0x1010 * i for i in rng.sample(range(16), 5)]
    suites = ([grease[0]] if p['grease'] else []) + p['suites']
    name = sni.encode()
    bodies = {
        'sni': tls_ext(0, vec16(b'\x00' + vec16(name))),
        'ems': tls_ext(23, b''),
        'reneg': tls_ext(0xff01, b'\x00'),
        'groups': tls_ext(10, vec16(u16s(([grease[1]] if p['grease'] else []) + p['groups']))),
        'ecpf': tls_ext(11, vec8(b'\x00')),
        'ticket': tls_ext(35, b''),
        'alpn': tls_ext(16, vec16(vec8(b'h2') + vec8(b'http/1.1'))),
        'status': tls_ext(5, b'\x01\x00\x00\x00\x00'),
        'sigalgs': tls_ext(13, vec16(u16s(p['sigalgs']))),
        'sct': tls_ext(18, b''),
        'keyshare': tls_ext(51, vec16((struct.pack('!HH', grease[1], 1) + b'\x00' if p['grease'] else b'') +
                                      struct.pack('!HH', 0x001d, 32) +
                                      bytes(rng.randrange(256) for _ in range(32)))),
        'pskmodes': tls_ext(45, vec8(b'\x01')),
        'versions': tls_ext(43, vec8(u16s(([grease[2]] if p['grease'] else []) + p['versions']))),
        'compress': tls_ext(27, vec8(u16s([2]))),
    }
    exts = b''
    if p['grease']:
        exts += tls_ext(grease[3], b'')
    exts += b''.join(bodies[e] for e in p['exts'])
    if p['grease']:
        exts += tls_ext(grease[4], b'\x00')
    hello = (struct.pack('!H', 0x0303) + bytes(rng.randrange(256) for _ in range(32)) +
             vec8(bytes(rng.randrange(256) for _ in range(32))) +
             vec16(u16s(suites)) + vec8(b'\x00') + vec16(exts))
    hs = b'\x01' + struct.pack('!I', len(hello))[1:] + hello
    return b'\x16\x03\x01' + vec16(hs)


def server_hello(rng, client_hello_rec):
    session_id = client_hello_rec[5 + 4 + 2 + 32 + 1:5 + 4 + 2 + 32 + 1 + 32]
    exts = (tls_ext(43, struct.pack('!H', 0x0304)) +
            tls_ext(51, struct.pack('!HH', 0x001d, 32) + bytes(rng.randrange(256) for _ in range(32))))
    hello = (struct.pack('!H', 0x0303) + bytes(rng.randrange(256) for _ in range(32)) +
             vec8(session_id) + struct.pack('!HB', 0x1301, 0) + vec16(exts))
    hs = b'\x02' + struct.pack('!I', len(hello))[1:] + hello
    return b'\x16\x03\x03' + vec16(hs)


def app_data(rng, n):
    return b'\x17\x03\x03' + vec16(bytes(rng.randrange(256) for _ in range(n)))


CCS = b'\x14\x03\x03\x00\x01\x01'


def tls_session(net, t, cli, srv_key, sni, profile, down_bytes):
    srv = net.hosts[srv_key]
    rng = net.rng
    f = TcpFlow(net, cli, srv, 443, rtt_to(net, srv))
    t = f.open(t)
    ch = client_hello(rng, sni, profile)
    t = f.send(t, True, ch)
    # Encrypted extensions, certificate, verify, finished: one opaque record.
    t = f.send(t, False, server_hello(rng, ch) + CCS + app_data(rng, 2600 + rng.randrange(1500)))
    t = f.send(t, True, CCS + app_data(rng, 53) + app_data(rng, 180 + rng.randrange(300)))
    down = b''
    while len(down) < down_bytes:
        down += app_data(rng, min(16401, down_bytes - len(down) + 17))
    t = f.send(t, False, down)
    return f.close(t + net.jitter(50000, 900000))


def ssh_kexinit(rng, kex, hostkey, ciphers, macs):
    payload = b'\x14' + bytes(rng.randrange(256) for _ in range(16))
    for lst in (kex, hostkey, ciphers, ciphers, macs, macs, 'none,zlib@openssh.com',
                'none,zlib@openssh.com', '', ''):
        payload += struct.pack('!I', len(lst)) + lst.encode()
    payload += b'\x00' + b'\x00\x00\x00\x00'
    pad = 8 - (len(payload) + 5) % 8
    if pad < 4:
        pad += 8
    return struct.pack('!IB', len(payload) + pad + 1, pad) + payload + b'\x00' * pad


def ssh_session(net, t, cli, srv_key, client_banner, server_banner):
    srv = net.hosts[srv_key]
    rng = net.rng
    f = TcpFlow(net, cli, srv, 22, rtt_to(net, srv))
    t = f.open(t)
    t = f.send(t, False, (server_banner + '\r\n').encode())
    t = f.send(t, True, (client_banner + '\r\n').encode())
    kex = 'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256'
    ciphers = 'chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com'
    macs = 'umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256'
    t = f.send(t, True, ssh_kexinit(rng, kex + ',ext-info-c', 'ssh-ed25519,rsa-sha2-512,rsa-sha2-256', ciphers, macs))
    t = f.send(t, False, ssh_kexinit(rng, kex, 'rsa-sha2-512,rsa-sha2-256,ssh-ed25519', ciphers, macs))
    # The user gives up at the host-key prompt.
    return f.close(t + net.jitter(2_000_000, 6_000_000))


# ---------------------------------------------------------------------------
# Ten minutes of the office

def ms(x):
    return int(x * 1_000_000)


def build(seed):
    net = Net(seed)
    H = net.hosts
    srv_ip = {s['key']: s['ip'] for s in SERVERS}

    # Infrastructure is up already: gateway and switch announce themselves, the
    # printer (static address) announces and advertises over SSDP.
    arp_announce(net, ms(0.2), H['gateway'], probe=False)
    arp_announce(net, ms(0.9), H['switch'], probe=False)
    arp_announce(net, ms(1.5), H['printer'], probe=False)
    ssdp_notify(net, ms(2.0), H['printer'])
    # Neighbour discovery every minute: CDP from the router, LLDP from the switch.
    for at in range(0, DURATION, 60):
        cdp_announce(net, ms(at + 3.0), H['gateway'])
        lldp_announce(net, ms(at + 4.0), H['switch'])

    # Clients join: DHCP, ARP probe/announce, resolve the gateway.
    joins = {'win': 5.0, 'ubuntu': 9.0, 'mac': 14.0, 'pi': 21.0, 'phone': 47.0}
    up = {}
    for key, at in joins.items():
        h = H[key]
        t = dhcp_dora(net, ms(at), key)
        arp_announce(net, t, h, probe=key in ('win', 'mac', 'phone'))
        t += ms(2.5)
        arp_who_has(net, t, h, H['gateway'].ip)
        up[key] = t + ms(0.05)

    # Windows workstation: NetBIOS names, WPAD hunt, web browsing in Chrome.
    w = H['win']
    t = nbns_register(net, up['win'], w, [('WIN-ACCT-07', 0), ('WORKGROUP', 1)])
    llmnr_query(net, t, w, 'wpad')
    nbns_query(net, t + ms(0.01), w, 'WPAD')
    t += ms(1.2)
    t = dns_lookup(net, t, w, 'example.com.', 'A', [('A', srv_ip['example'])])
    t = dns_lookup(net, t, w, 'example.com.', 'AAAA', [('AAAA', '2606:2800:220:1:248:1893:25c8:1946')])
    t = http_get(net, t, w, 'example', 'example.com', '/', UA['win_chrome'], 'ECS (dcb/7F84)', 1256,
                 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')
    t = dns_lookup(net, t + ms(3.1), w, 'www.wikipedia.org.', 'A', [('A', srv_ip['wikipedia'])])
    t = tls_session(net, t, w, 'wikipedia', 'www.wikipedia.org', 'chrome', 48000)
    t = dns_lookup(net, t + ms(40), w, '34.216.184.93.in-addr.arpa.', 'PTR', [])
    t = http_get(net, t + ms(95), w, 'example', 'example.com', '/index.html', UA['win_chrome'],
                 'ECS (dcb/7F84)', 1256)
    nbns_register(net, ms(480), w, [('WIN-ACCT-07', 0)])

    # Ubuntu workstation: git over SSH and HTTPS to GitHub.
    u = H['ubuntu']
    t = dns_lookup(net, up['ubuntu'] + ms(6), u, 'github.com.', 'A', [('A', srv_ip['github'])])
    t = tls_session(net, t, u, 'github', 'github.com', 'chrome', 22000)
    t = dns_lookup(net, t + ms(60), u, '4.121.82.140.in-addr.arpa.', 'PTR',
                   [('PTR', 'lb-140-82-121-4-fra.github.com.')])
    t = ssh_session(net, t + ms(1), u, 'github', SSH_BANNERS['ubuntu_client'], SSH_BANNERS['github_server'])

    # MacBook: Bonjour announcements, Safari, then SSH to the Raspberry Pi.
    m = H['mac']
    mdns_announce(net, up['mac'], m, 'MacBookPro18,1', '22')
    t = dns_lookup(net, up['mac'] + ms(4), m, 'www.apple.com.', 'A', [('A', srv_ip['apple'])])
    t = tls_session(net, t, m, 'apple', 'www.apple.com', 'safari', 36000)
    t = dns_lookup(net, t + ms(20), m, 'neverssl.com.', 'A', [('A', srv_ip['neverssl'])])
    t = http_get(net, t, m, 'neverssl', 'neverssl.com', '/', UA['mac_safari'], 'Apache/2.4.58 ()', 2600,
                 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')
    arp_who_has(net, ms(200), m, H['pi'].ip)
    ssh_session(net, ms(200.01), m, 'pi', SSH_BANNERS['mac_client'], SSH_BANNERS['pi_server'])
    mdns_announce(net, ms(330), m, 'MacBookPro18,1', '22')

    # Raspberry Pi: apt update over plain HTTP.
    p = H['pi']
    t = dns_lookup(net, up['pi'] + ms(30), p, 'deb.debian.org.', 'A', [('A', srv_ip['debian'])])
    t = http_get(net, t, p, 'debian', 'deb.debian.org', '/debian/dists/buster/InRelease', UA['pi_apt'],
                 'Apache', 4096)
    t = dns_lookup(net, ms(400), p, 'deb.debian.org.', 'A', [('A', srv_ip['debian'])])
    http_get(net, t, p, 'debian', 'deb.debian.org', '/debian/dists/buster-updates/InRelease',
             UA['pi_apt'], 'Apache', 3072)

    # Phone: captive-portal check, then Google over TLS.
    ph = H['phone']
    t = dns_lookup(net, up['phone'] + ms(0.4), ph, 'connectivitycheck.gstatic.com.', 'A',
                   [('A', srv_ip['gstatic'])])
    t = http_get(net, t, ph, 'gstatic', 'connectivitycheck.gstatic.com', '/generate_204',
                 UA['phone_dalvik'], 'HTTP server (unknown)', 0)
    t = dns_lookup(net, t + ms(2), ph, 'www.google.com.', 'A', [('A', srv_ip['google'])])
    t = tls_session(net, t, ph, 'google', 'www.google.com', 'chrome', 30000)

    # The NAT box: ARP, then its Windows PC browses over TLS and its Linux box
    # fetches package lists over HTTP, both through the box's address.
    nb = H['natbox']
    arp_announce(net, ms(60), nb, probe=False)
    arp_who_has(net, ms(60.5), nb, H['gateway'].ip)
    t = tls_session(net, ms(61), H['nat_win'], 'wikipedia', 'www.wikipedia.org', 'chrome', 12000)
    http_get(net, t + ms(7), H['nat_linux'], 'debian', 'deb.debian.org', '/debian/dists/bookworm/InRelease',
             'Debian APT-HTTP/1.3 (2.6.1)', 'Apache', 2048)

    # Background for the rest of the ten minutes: the gateway refreshes its ARP
    # entries, the printer re-advertises, Windows re-checks WPAD.
    for k, at in enumerate(range(120, DURATION, 120)):
        for key in ('win', 'ubuntu', 'mac', 'pi', 'phone', 'printer', 'natbox'):
            arp_who_has(net, ms(at) + k * 37 + hash_key(key), H['gateway'], H[key].ip)
    ssdp_notify(net, ms(302), H['printer'])
    llmnr_query(net, ms(455), w, 'wpad')
    nbns_query(net, ms(455.2), w, 'WPAD')
    ssdp_notify(net, ms(590), H['printer'])
    return net


def hash_key(key):
    """A small stable per-host offset (Python's hash() is salted per process)."""
    return sum(ord(c) * 131 for c in key) % 50000


def truth(seed, n_packets):
    devices = []
    for d in DEVICES:
        e = dict(hostname=d['hostname'], mac=d['mac'], ip=d['ip'], vendor=d['vendor'],
                 oui=d['mac'][:8], os=d['os'], role=d['role'])
        if 'p0f' in d:
            e['p0f_family'] = d['p0f']
        # What the capture shows a passive observer (os_family, device_type
        # in tapsense's vocabulary), where it shows it.
        for k in ('os_family', 'device_type'):
            if k in d:
                e[k] = d[k]
        e['nat'] = d.get('nat', False)
        if d['key'] in DHCP_CLIENTS:
            c = DHCP_CLIENTS[d['key']]
            e['dhcp'] = dict(hostname=d['hostname'],
                             vendor_class=c['vendor_class'].decode() if c['vendor_class'] else None,
                             param_req_list=c['prl'])
        devices.append(e)
    return dict(
        generator='deploy/make-sample.py', seed=seed, start='2024-03-04T09:00:00Z',
        start_epoch=START, duration_s=DURATION, packets=n_packets, linktype=1,
        subnet='192.168.10.0/24', gateway='192.168.10.1', dns_servers=['1.1.1.1', '1.0.0.1'],
        devices=devices,
        servers=[dict(name=s['name'], ip=s['ip'], role=s['role']) for s in SERVERS],
        http_user_agents=[dict(client=ip_of(k), user_agent=UA[u]) for k, u in
                          (('win', 'win_chrome'), ('mac', 'mac_safari'), ('pi', 'pi_apt'),
                           ('phone', 'phone_dalvik'))],
        http_servers=['ECS (dcb/7F84)', 'Apache/2.4.58 ()', 'Apache', 'HTTP server (unknown)'],
        tls_sni=[dict(client=ip_of(k), sni=s) for k, s in
                 (('win', 'www.wikipedia.org'), ('ubuntu', 'github.com'), ('mac', 'www.apple.com'),
                  ('phone', 'www.google.com'))],
        ssh_banners=[dict(host=ip_of('mac'), banner=SSH_BANNERS['mac_client']),
                     dict(host=ip_of('pi'), banner=SSH_BANNERS['pi_server']),
                     dict(host=ip_of('ubuntu'), banner=SSH_BANNERS['ubuntu_client']),
                     dict(host='140.82.121.4', banner=SSH_BANNERS['github_server'])],
        mdns=[dict(host=ip_of('mac'), a='alice-macbook.local',
                   txt=['model=MacBookPro18,1', 'osxvers=22'])],
        nbns=[dict(host=ip_of('win'), names=['WIN-ACCT-07<00>', 'WORKGROUP<00>'],
                   queries=['WPAD<00>'])],
        llmnr=[dict(host=ip_of('win'), query='wpad')],
        ssdp=[dict(host=ip_of('printer'), server=SSDP_SERVER)],
        cdp=[dict(mac=DEVICES[0]['mac'], device_id=CDP_GATEWAY['device_id'], platform=CDP_GATEWAY['platform'])],
        lldp=[dict(mac=DEVICES[1]['mac'], system_name=LLDP_SWITCH['system_name'],
                   description=LLDP_SWITCH['description'], management_address=DEVICES[1]['ip'])],
    )


def _csum(data):
    if len(data) % 2:
        data += b'\x00'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def _fix_checksums(raw):
    """Recomputes the IPv4 header checksum and the TCP/UDP checksum of an
    untagged Ethernet frame after its addresses were rewritten."""
    if len(raw) < 34 or raw[12:14] != b'\x08\x00':
        return raw
    b = bytearray(raw)
    ihl = (b[14] & 0x0f) * 4
    total = struct.unpack('!H', b[16:18])[0]
    if ihl < 20 or 14 + total > len(b) or total < ihl:
        return raw
    b[24:26] = b'\x00\x00'
    b[24:26] = struct.pack('!H', _csum(bytes(b[14:14 + ihl])))
    proto = b[23]
    frag = struct.unpack('!H', b[20:22])[0] & 0x3fff
    l4 = 14 + ihl
    seg = bytes(b[l4:14 + total])
    if frag != 0:
        return bytes(b)
    pseudo = bytes(b[26:34]) + struct.pack('!BBH', 0, proto, len(seg))
    if proto == 6 and len(seg) >= 20:
        seg = seg[:16] + b'\x00\x00' + seg[18:]
        b[l4 + 16:l4 + 18] = struct.pack('!H', _csum(pseudo + seg))
    elif proto == 17 and len(seg) >= 8:
        seg = seg[:6] + b'\x00\x00' + seg[8:]
        c = _csum(pseudo + seg)
        b[l4 + 6:l4 + 8] = struct.pack('!H', c if c != 0 else 0xffff)
    return bytes(b)


def replicate(cap, copies):
    """Copies 1..N-1 of the office, with their own LAN addresses and MACs."""
    base = list(cap.frames)
    macs = set()
    for _, _, raw in base:
        for m in (raw[0:6], raw[6:12]):
            if not (m[0] & 1):  # unicast
                macs.add(m)
    lan = bytes([192, 168, 10])
    for c in range(1, copies):
        key = (c * 0x9e3779) & 0xffffff
        mac_map = {m: m[:3] + ((int.from_bytes(m[3:], 'big') ^ key) & 0xffffff).to_bytes(3, 'big') for m in macs}
        new_lan = bytes([10, (c >> 8) & 0xff, c & 0xff])
        for t_us, _, raw in base:
            out = raw
            for old, new in mac_map.items():
                if old in out:
                    out = out.replace(old, new)
            if lan in out:
                out = out.replace(lan, new_lan)
            out = _fix_checksums(out)
            cap.frames.append((t_us + c * 997, len(cap.frames), out))


def ip_of(key):
    return next(d['ip'] for d in DEVICES if d['key'] == key)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out', help='output capture, e.g. sample.pcap')
    ap.add_argument('--seed', type=int, default=20240304)
    ap.add_argument('--copies', type=int, default=1, help='offices in the capture (see above)')
    a = ap.parse_args()
    if not 1 <= a.copies <= 65536:
        ap.error('--copies must be between 1 and 65536')
    net = build(a.seed)
    if a.copies > 1:
        replicate(net.cap, a.copies)
    n = net.cap.write(a.out)
    base = a.out[:-5] if a.out.endswith('.pcap') else a.out
    with open(base + '.truth.json', 'w') as fh:
        json.dump(truth(a.seed, n), fh, indent=2, sort_keys=True)
        fh.write('\n')
    print('%s: %d packets, %d bytes' % (a.out, n, os.path.getsize(a.out)), file=sys.stderr)


if __name__ == '__main__':
    main()

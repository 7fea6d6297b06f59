#!/usr/bin/python3
"""The bundled sample capture (deploy/make-sample.py) is deterministic and real.

Generates the sample twice and checks, with tshark and p0f as independent
readers (never with tapsense's own decoders):
  - both runs give byte-identical files;
  - tshark reads every frame without a malformed packet, bad checksum or any
    other expert error, and counts the packets truth.json claims;
  - tshark finds what truth.json says was put in: DHCP hostnames, vendor
    classes and option 55 lists, HTTP user agents, TLS SNI, SSH banners, the
    mDNS host and TXT record, NBNS names, LLMNR query, SSDP SERVER header,
    CDP and LLDP announcements;
  - p0f names the intended OS family for every client SYN;
  - every device's MAC prefix belongs to its vendor in the IEEE registry.
Exit 0 pass, 1 fail, 77 skip (a tool is missing).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SOURCE = os.environ.get('TAPSENSE_SOURCE') or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATOR = os.path.join(SOURCE, 'deploy', 'make-sample.py')
OUI_CSV = '/usr/share/ieee-data/oui.csv'

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL:', what)
    return cond


def skip(why):
    print('SKIP:', why)
    sys.exit(77)


def tshark_fields(pcap, display_filter, *fields):
    """Rows of tshark -T fields; multiple occurrences joined with '|'."""
    cmd = ['tshark', '-n', '-r', pcap, '-Y', display_filter, '-T', 'fields',
           '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|']
    for f in fields:
        cmd += ['-e', f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split('\t') for line in out.split('\n') if line]


def values(rows, col):
    out = set()
    for r in rows:
        if col < len(r) and r[col]:
            out.update(r[col].split('|'))
    return out


def generate(tmp, name):
    out = os.path.join(tmp, name + '.pcap')
    subprocess.run([sys.executable, GENERATOR, out], check=True, capture_output=True)
    return out, os.path.join(tmp, name + '.truth.json')


def main():
    for tool in ('tshark', 'p0f'):
        if shutil.which(tool) is None:
            skip(tool + ' is not installed')
    try:
        import scapy  # noqa: F401  (the generator needs it)
    except ImportError:
        skip('python3-scapy is not installed for ' + sys.executable)

    with tempfile.TemporaryDirectory(prefix='tapsense-sample-') as tmp:
        a, a_truth = generate(tmp, 'a')
        b, b_truth = generate(tmp, 'b')
        with open(a, 'rb') as fa, open(b, 'rb') as fb:
            check(fa.read() == fb.read(), 'two runs give different captures')
        with open(a_truth) as fa, open(b_truth) as fb:
            truth = json.load(fa)
            check(truth == json.load(fb), 'two runs give different truth.json')

        # --- tshark reads it cleanly ---
        run = subprocess.run(['tshark', '-n', '-r', a, '-Y', '_ws.malformed'],
                             capture_output=True, text=True)
        check(run.returncode == 0, 'tshark failed: ' + run.stderr.strip())
        check(run.stdout.strip() == '', 'malformed packets:\n' + run.stdout[:2000])
        check('cut short' not in run.stderr and 'damaged' not in run.stderr,
              'tshark: ' + run.stderr.strip())
        errors = tshark_fields(a, '_ws.expert.severity == error', 'frame.number',
                               '_ws.expert.message')
        checksum_opts = []
        for proto in ('ip', 'tcp', 'udp'):
            checksum_opts += ['-o', proto + '.check_checksum:TRUE']
        bad_sums = subprocess.run(
            ['tshark', '-n', '-r', a] + checksum_opts +
            ['-Y', 'ip.checksum.status == "Bad" or tcp.checksum.status == "Bad" or '
                   'udp.checksum.status == "Bad"'],
            capture_output=True, text=True, check=True).stdout
        check(not errors, 'tshark expert errors: %s' % errors[:5])
        check(bad_sums.strip() == '', 'bad checksums:\n' + bad_sums[:2000])
        frames = tshark_fields(a, 'frame', 'frame.len', 'frame.cap_len', 'eth.src')
        check(len(frames) == truth['packets'],
              'tshark counts %d packets, truth.json %d' % (len(frames), truth['packets']))
        check(all(f[0] == f[1] and int(f[0]) >= 60 for f in frames),
              'every frame whole and at least the 60-byte Ethernet minimum')
        span = tshark_fields(a, 'frame', 'frame.time_epoch')
        first, last = float(span[0][0]), float(span[-1][0])
        check(first >= truth['start_epoch'] and last - first > 300 and
              last < truth['start_epoch'] + truth['duration_s'],
              'packet time spans about ten minutes from the fixed start')

        # --- what was put in, as tshark sees it ---
        dhcp = tshark_fields(a, 'dhcp.option.dhcp == 1 or dhcp.option.dhcp == 3', 'eth.src',
                             'dhcp.option.hostname', 'dhcp.option.vendor_class_id',
                             'dhcp.option.request_list_item')
        acks = values(tshark_fields(a, 'dhcp.option.dhcp == 5', 'dhcp.ip.your'), 0)
        by_mac = {}
        for r in dhcp:
            by_mac.setdefault(r[0], set()).add(tuple(r[1:4]))
        for d in truth['devices']:
            if 'dhcp' not in d:
                continue
            want = (d['dhcp']['hostname'], d['dhcp']['vendor_class'] or '',
                    ','.join(str(x) for x in d['dhcp']['param_req_list']))
            got = {(h, v, p.replace('|', ',')) for h, v, p in by_mac.get(d['mac'], set())}
            check(want in got, 'DHCP from %s: want %s, tshark saw %s' % (d['mac'], want, got))
            check(d['ip'] in acks, 'no DHCPACK giving %s its address %s' % (d['hostname'], d['ip']))

        uas = {(r[0], r[1]) for r in tshark_fields(a, 'http.user_agent', 'ip.src', 'http.user_agent')}
        for u in truth['http_user_agents']:
            check((u['client'], u['user_agent']) in uas, 'HTTP user agent %s' % u)
        servers = values(tshark_fields(a, 'http.server', 'http.server'), 0)
        for s in truth['http_servers']:
            check(s in servers, 'HTTP Server header %r' % s)

        snis = {(r[0], r[1]) for r in tshark_fields(
            a, 'tls.handshake.type == 1', 'ip.src', 'tls.handshake.extensions_server_name')}
        for s in truth['tls_sni']:
            check((s['client'], s['sni']) in snis, 'TLS ClientHello SNI %s' % s)
        hellos = tshark_fields(a, 'tls.handshake.type == 1', 'tls.handshake.ja3',
                               'tls.handshake.extensions_supported_group',
                               'tls.handshake.extensions.supported_version',
                               'tls.handshake.extensions_alpn_str')
        check(all(len(h) == 4 and all(h) for h in hellos),
              'every ClientHello has JA3, supported_groups, supported_versions and ALPN')

        banners = {(r[0], r[1]) for r in tshark_fields(a, 'ssh.protocol', 'ip.src', 'ssh.protocol')}
        for s in truth['ssh_banners']:
            check((s['host'], s['banner']) in banners, 'SSH banner %s' % s)

        mdns = tshark_fields(a, 'mdns and dns.flags.response == 1', 'ip.src', 'dns.resp.name',
                             'dns.txt')
        for m in truth['mdns']:
            hits = [r for r in mdns if r[0] == m['host'] and m['a'] in r[1].split('|')]
            check(hits and all(t in hits[0][2].split('|') for t in m['txt']),
                  'mDNS announcement %s' % m)

        nbns = tshark_fields(a, 'nbns', 'ip.src', 'nbns.name', 'nbns.flags.opcode')
        for n in truth['nbns']:
            registered = {v.split(' ')[0] for r in nbns if r[0] == n['host'] and r[2] == '5'
                          for v in r[1].split('|')}
            queried = {v.split(' ')[0] for r in nbns if r[0] == n['host'] and r[2] == '0'
                       for v in r[1].split('|')}
            check(set(n['names']) <= registered, 'NBNS registrations %s, saw %s' % (n, registered))
            check(set(n['queries']) <= queried, 'NBNS queries %s, saw %s' % (n, queried))
        llmnr = {(r[0], r[1]) for r in tshark_fields(a, 'llmnr', 'ip.src', 'dns.qry.name')}
        for q in truth['llmnr']:
            check((q['host'], q['query']) in llmnr, 'LLMNR query %s' % q)
        ssdp = {(r[0], r[1]) for r in tshark_fields(a, 'ssdp', 'ip.src', 'http.server')}
        for s in truth['ssdp']:
            check((s['host'], s['server']) in ssdp, 'SSDP NOTIFY %s' % s)

        cdp = {(r[0], r[1], r[2]) for r in tshark_fields(a, 'cdp', 'eth.src', 'cdp.deviceid', 'cdp.platform')}
        for c in truth['cdp']:
            check((c['mac'], c['device_id'], c['platform']) in cdp, 'CDP announcement %s, saw %s' % (c, cdp))
        lldp = {tuple(r[:4]) for r in tshark_fields(a, 'lldp', 'eth.src', 'lldp.tlv.system.name',
                                                     'lldp.tlv.system.desc', 'lldp.mgn.addr.ip4')}
        for l in truth['lldp']:
            check((l['mac'], l['system_name'], l['description'], l['management_address']) in lldp,
                  'LLDP announcement %s, saw %s' % (l, lldp))

        # --- p0f on every client SYN ---
        out = subprocess.run(['p0f', '-r', a], capture_output=True, text=True).stdout
        verdicts = {}  # client ip -> [os, ...]
        lines = out.split('\n')
        for i, line in enumerate(lines):
            if line.startswith('.-[') and '(syn)' in line:
                client = line.split()[1].split('/')[0]
                for follow in lines[i + 1:i + 8]:
                    if follow.startswith('| os'):
                        verdicts.setdefault(client, []).append(follow.split('=', 1)[1].strip())
                        break
        for d in truth['devices']:
            if 'p0f_family' not in d:
                continue
            got = verdicts.get(d['ip'], [])
            check(got, 'p0f saw no SYN from %s (%s)' % (d['hostname'], d['ip']))
            for v in got:
                check(d['p0f_family'] in v and '???' not in v,
                      'p0f says %r for %s, intended %s' % (v, d['hostname'], d['p0f_family']))
        print('p0f:', {ip: sorted(set(v)) for ip, v in verdicts.items()})

        # --- MAC prefixes belong to the named vendors ---
        if os.path.exists(OUI_CSV):
            import csv
            with open(OUI_CSV, newline='', encoding='utf-8', errors='replace') as fh:
                registry = {row[1].upper(): row[2].strip() for row in csv.reader(fh) if len(row) > 2}
            for d in truth['devices']:
                prefix = d['mac'][:8].replace(':', '').upper()
                check(registry.get(prefix) == d['vendor'],
                      '%s: OUI %s is %r in the registry, truth says %r'
                      % (d['hostname'], prefix, registry.get(prefix), d['vendor']))

    if failures:
        print('%d check(s) failed' % len(failures))
        return 1
    print('sample capture: %d packets, all checks passed' % truth['packets'])
    return 0


if __name__ == '__main__':
    sys.exit(main())

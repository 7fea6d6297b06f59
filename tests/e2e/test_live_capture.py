"""Live capture: two network namespaces joined by a veth pair, the sensor on
one end (DPDK net_af_packet, promiscuous), tcpreplay of captures into the
other. The inventory (MACs, addresses, hostnames, vendors, OS) and the bytes
per address pair equal those of the same captures read offline."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

NS_SENSOR = "tss%d" % os.getpid()
NS_WIRE = "tsw%d" % os.getpid()


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def setup():
    sh("ip", "netns", "add", NS_SENSOR)
    sh("ip", "netns", "add", NS_WIRE)
    sh("ip", "link", "add", "tsa0", "netns", NS_SENSOR, "mtu", "9000", "type", "veth", "peer", "name", "tsb0",
       "netns", NS_WIRE, "mtu", "9000")
    for ns, dev in ((NS_SENSOR, "tsa0"), (NS_WIRE, "tsb0")):
        sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        # No IPv6 chatter of our own on the wire: the sensor must see only the replay.
        sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev, check=False)


def teardown():
    for ns in (NS_SENSOR, NS_WIRE):
        sh("ip", "netns", "del", ns, check=False)


def canonical(assets):
    return sorted((a["mac"], a["ip"], a["hostname"], a["vendor"], a["os"]) for a in assets)


def run():
    if os.geteuid() != 0:
        t.skip("live capture needs root (network namespaces, veth, af_packet)")
    t.need("tcpreplay")
    t.need("ip")
    t.need("mergecap")
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    parts = [sample]
    for rel in ("tls/chrome.pcap", "mdns/iphone.pcap", "dhcp/dhcp-mud.pcap"):
        p = os.path.join(t.SHARED_PCAPS, rel)
        if os.path.exists(p):
            parts.append(p)
    # Offline reference: the captures one after the other, as they will be replayed.
    joined = os.path.join(work, "joined.pcap")
    sh("mergecap", "-a", "-F", "pcap", "-w", joined, *parts)
    off_assets, off_flows, _ = t.run_sensor(joined, os.path.join(work, "offline"))

    try:
        setup()
    except subprocess.CalledProcessError as e:
        t.skip("cannot create network namespaces here: %s" % e.stderr.strip())
    try:
        out = os.path.join(work, "live")
        os.makedirs(out)
        cfg = t.write_config(work, """
[sensor]
state_dir = "%s"
output_dir = "%s"
run_dir = "/tmp/tsl.%d"
[[capture.interface]]
name = "tsa0"
driver = "af_packet"
""" % (out, out, os.getpid()))
        sup = subprocess.Popen(["ip", "netns", "exec", NS_SENSOR, t.SUPERVISOR, "--config", cfg, "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Wait until capture is polling the port.
        deadline = time.time() + 30
        ready = False
        while time.time() < deadline and sup.poll() is None:
            st = subprocess.run([t.SUPERVISOR, "--stats", "--run-dir", "/tmp/tsl.%d" % os.getpid()],
                                capture_output=True, text=True)
            if "port.net_af_packet0.ipackets" in st.stdout:
                ready = True
                break
            time.sleep(0.2)
        t.check(ready, "the live sensor did not come up: %s" % (sup.stderr.read() if sup.poll() is not None else ""))
        for p in parts:
            r = sh("ip", "netns", "exec", NS_WIRE, "tcpreplay", "-q", "--pps", "3000", "-i", "tsb0", p, check=False)
            t.check(r.returncode == 0, "tcpreplay %s: %s" % (p, r.stderr))
        time.sleep(1)
        sup.send_signal(signal.SIGINT)  # drain and write the outputs
        _, err = sup.communicate(timeout=60)
        t.check(sup.returncode == 130, "live run exited %d: %s" % (sup.returncode, err))
        with open(os.path.join(out, "assets.json")) as f:
            live_assets = json.load(f)
        with open(os.path.join(out, "flows.json")) as f:
            live_flows = json.load(f)
        with open(os.path.join(out, "tapsense.log")) as f:
            log = f.read()
    finally:
        teardown()
    t.check(canonical(live_assets) == canonical(off_assets),
            "live inventory differs:\n live %s\n offline %s" % (canonical(live_assets), canonical(off_assets)))
    lp, op = t.flow_pair_bytes(live_flows), t.flow_pair_bytes(off_flows)
    t.check(lp == op, "bytes per pair differ: %s" % {k: (lp.get(k), v) for k, v in op.items() if lp.get(k) != v})
    print("live: %d captures replayed through a veth pair: %d assets and %d pairs equal the offline run" % (
        len(parts), len(live_assets), len(op)))


t.main(run)

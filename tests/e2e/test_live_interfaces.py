"""Sniffing interfaces that come and go (netlink). The sensor is configured
with two interfaces, tsa0 (present) and tsc0 (not yet there). It starts on
tsa0 alone; a veth pair tsc0/tsd0 created in its namespace makes it restart
the pipeline once on both; deleting the pair makes it restart once on tsa0
alone. A capture replayed into each interface while it is sniffed ends up in
the inventory: assets and bytes per address pair equal an offline run of the
two captures one after the other (nothing counted before a restart is lost)."""
import os
import re
import subprocess
import sys
import time
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire, sh


def canonical(assets):
    return sorted((a["mac"], a["ip"], a["hostname"], a["vendor"], a["os"]) for a in assets)


def effective_interfaces(run_dir):
    try:
        with open(os.path.join(run_dir, "effective.toml"), "rb") as f:
            cfg = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return [i["name"] for i in cfg.get("capture", {}).get("interface", [])]


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    t.check(False, "timed out waiting for %s" % what)


def run():
    t.need("mergecap")
    work = t.tmpdir()
    a = os.path.join(work, "a.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), a], check=True, capture_output=True)
    b = t.shared_pcap("tls/chrome.pcap")
    with Wire("i") as w:
        joined = os.path.join(work, "joined.pcap")
        subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", joined, a, b], check=True, capture_output=True)
        off_assets, off_flows, _ = t.run_sensor(joined, os.path.join(work, "offline"))
        out = os.path.join(work, "live")
        w.start(work, out, 'driver = "af_packet"\n[[capture.interface]]\nname = "tsc0"\ndriver = "af_packet"\n')
        t.check(effective_interfaces(w.run_dir) == ["tsa0"],
                "started on %s, expected tsa0 alone" % effective_interfaces(w.run_dir))
        w.replay(a)
        w.settled_stats()

        # tsc0 appears: one restart, on both.
        sh("ip", "link", "add", "tsc0", "netns", w.ns_sensor, "mtu", "9000", "type", "veth", "peer", "name", "tsd0",
           "netns", w.ns_wire, "mtu", "9000")
        for ns, dev in ((w.ns_sensor, "tsc0"), (w.ns_wire, "tsd0")):
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev, check=False)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        wait_for("the pipeline on tsa0 and tsc0",
                 lambda: effective_interfaces(w.run_dir) == ["tsa0", "tsc0"] and
                 "port.net_af_packet1.ipackets" in w.stats())
        r = sh("ip", "netns", "exec", w.ns_wire, "tcpreplay", "-q", "--pps", "3000", "-i", "tsd0", b, check=False)
        t.check(r.returncode == 0, "tcpreplay into tsd0: %s" % r.stderr)
        stats = w.settled_stats()
        t.check(re.search(r"port\.net_af_packet1\.ipackets\s+[1-9]", stats), "tsc0 received nothing:\n%s" % stats)

        # tsc0 goes: one restart, on tsa0 alone.
        sh("ip", "netns", "exec", w.ns_sensor, "ip", "link", "del", "tsc0")
        wait_for("the pipeline on tsa0 alone",
                 lambda: effective_interfaces(w.run_dir) == ["tsa0"] and "port.net_af_packet0.ipackets" in w.stats()
                 and "net_af_packet1" not in w.stats())
        live_assets, live_flows, log = w.stop()
    restarts = log.count("restarting the sensor: the sniffing interfaces changed")
    t.check(restarts == 2, "expected 2 restarts (one per change), the log shows %d" % restarts)
    t.check(canonical(live_assets) == canonical(off_assets),
            "inventory after the restarts differs from the offline run:\n live %s\n offline %s" %
            (canonical(live_assets), canonical(off_assets)))
    lp, op = t.flow_pair_bytes(live_flows), t.flow_pair_bytes(off_flows)
    t.check(lp == op, "bytes per pair differ: %s" % {k: (lp.get(k), v) for k, v in op.items() if lp.get(k) != v})
    print("interfaces: tsc0 added then removed: 2 restarts; %d assets and %d pairs equal the offline run" %
          (len(live_assets), len(op)))


t.main(run)

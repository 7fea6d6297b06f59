"""A wire for live-capture tests: two network namespaces joined by a veth
pair, the sensor (DPDK net_af_packet) on one end, tcpreplay into the other."""
import json
import os
import re
import signal
import subprocess
import time

import tapsense_test as t


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


class Wire:
    def __init__(self, tag):
        self.ns_sensor = "tss%s%d" % (tag, os.getpid())
        self.ns_wire = "tsw%s%d" % (tag, os.getpid())
        self.run_dir = "/tmp/tsl.%s%d" % (tag, os.getpid())
        # A live sensor's instance is its name: two live tests side by side
        # must not both be the default 'tapsense'.
        self.name = "tsl%s%d" % (tag, os.getpid())
        self.sup = None

    def __enter__(self):
        if os.geteuid() != 0:
            t.skip("live capture needs root (network namespaces, veth, af_packet)")
        t.need("tcpreplay")
        t.need("ip")
        try:
            sh("ip", "netns", "add", self.ns_sensor)
            sh("ip", "netns", "add", self.ns_wire)
            sh("ip", "link", "add", "tsa0", "netns", self.ns_sensor, "mtu", "9000", "type", "veth", "peer",
               "name", "tsb0", "netns", self.ns_wire, "mtu", "9000")
            for ns, dev in ((self.ns_sensor, "tsa0"), (self.ns_wire, "tsb0")):
                sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
                # No IPv6 chatter of our own on the wire: the sensor must see only the replay.
                sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev,
                   check=False)
        except subprocess.CalledProcessError as e:
            self.__exit__(None, None, None)
            t.skip("cannot create network namespaces here: %s" % e.stderr.strip())
        return self

    def __exit__(self, *exc):
        if self.sup is not None and self.sup.poll() is None:
            self.sup.kill()
            self.sup.wait()
        for ns in (self.ns_sensor, self.ns_wire):
            sh("ip", "netns", "del", ns, check=False)
        return False

    def start(self, work, out, interface_toml):
        """Starts the live sensor on tsa0 (interface_toml: the keys of its
        [[capture.interface]] after name) and waits until it polls the port."""
        os.makedirs(out)
        cfg = t.write_config(work, """
[sensor]
name = "%s"
state_dir = "%s"
output_dir = "%s"
run_dir = "%s"
[[capture.interface]]
name = "tsa0"
%s
""" % (self.name, out, out, self.run_dir, interface_toml))
        self.out = out
        self.sup = subprocess.Popen(["ip", "netns", "exec", self.ns_sensor, t.SUPERVISOR, "--config", cfg, "--quiet"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and self.sup.poll() is None:
            if "port.net_af_packet0.ipackets" in self.stats():
                return
            time.sleep(0.2)
        t.check(False, "the live sensor did not come up: %s" %
                (self.sup.stderr.read() if self.sup.poll() is not None else "timeout"))

    def stats(self):
        return subprocess.run([t.SUPERVISOR, "--stats", "--run-dir", self.run_dir], capture_output=True,
                              text=True).stdout

    def settled_stats(self, timeout=15):
        """--stats once the counters stop moving (the replay has been read)."""
        last = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.5)
            now = self.stats()
            numbers = re.findall(r"\d+", now)
            if numbers == last:
                return now
            last = numbers
        return now

    def replay(self, pcap, pps=3000):
        r = sh("ip", "netns", "exec", self.ns_wire, "tcpreplay", "-q", "--pps", str(pps), "-i", "tsb0", pcap,
               check=False)
        t.check(r.returncode == 0, "tcpreplay %s: %s" % (pcap, r.stderr))

    def stop(self):
        """Ctrl-C: the sensor drains and writes its outputs. Returns (assets, flows, log)."""
        time.sleep(1)
        self.sup.send_signal(signal.SIGINT)
        _, err = self.sup.communicate(timeout=60)
        t.check(self.sup.returncode == 130, "live run exited %d: %s" % (self.sup.returncode, err))
        with open(os.path.join(self.out, "assets.json")) as f:
            assets = json.load(f)
        with open(os.path.join(self.out, "flows.json")) as f:
            flows = json.load(f)
        with open(os.path.join(self.out, "tapsense.log")) as f:
            log = f.read()
        return assets, flows, log

    # --- for tests that look at the capture's counters -------------------

    def capture_counters(self):
        """The capture stage's pid and counters from --stats, as a dict."""
        stage = None
        out = {}
        for line in self.stats().split("\n"):
            if line and not line.startswith(" "):
                stage = line.split(" ")[0]
                if stage == "capture" and "pid " in line:
                    out["pid"] = int(line.split("pid ")[1].split(",")[0])
            elif stage == "capture" and line.strip():
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    out[parts[0]] = int(parts[1])
        return out

    def replay_background(self, pcap, pps, loop=1):
        """tcpreplay in the wire namespace, not waited for (see sent())."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns_wire, "tcpreplay", "--pps", str(pps), "--loop",
                                 str(loop), "-i", "tsb0", pcap], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    @staticmethod
    def sent(proc, timeout=120):
        """Packets a background tcpreplay handed to the kernel (its
        'Successful packets'); fails the test if it failed."""
        out, err = proc.communicate(timeout=timeout)
        t.check(proc.returncode == 0, "tcpreplay: %s %s" % (out, err))
        m = re.search(r"Successful packets:\s+(\d+)", out + err)
        t.check(m is not None, "no packet count in tcpreplay's output: %s" % out)
        failed = re.search(r"Failed packets:\s+(\d+)", out + err)
        t.check(failed is None or int(failed.group(1)) == 0, "tcpreplay failed to send some packets: %s" % out)
        return int(m.group(1))

    def link_stat(self, side, name):
        """A counter of /sys/class/net/<dev>/statistics on one end of the
        wire (side "sensor": tsa0, "wire": tsb0)."""
        ns, dev = (self.ns_sensor, "tsa0") if side == "sensor" else (self.ns_wire, "tsb0")
        r = sh("ip", "netns", "exec", ns, "cat", "/sys/class/net/%s/statistics/%s" % (dev, name))
        return int(r.stdout.strip())

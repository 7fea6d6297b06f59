"""A registered live sensor and its real platform: the sensor sniffs one end
of a veth pair (DPDK net_af_packet), the sample capture is replayed into the
other end, and the platform, on loopback, drives it as a user would: the
sensor shows Sensing with its packets, its assets reach the platform equal to
its assets.json, a configuration change (an excluded address) is applied and
acknowledged with one pipeline restart, pause stops the pipeline (the sensor
stays registered and checks in as Paused) and start_sensing starts it again,
delete_assets empties both inventories, deregister stops the sensor with its
exit code."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, supervisor, wait_for, DEREGISTERED


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def stage_pids(sup_pid):
    r = sh("pgrep", "-P", str(sup_pid), check=False)
    return [int(x) for x in r.stdout.split()]


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    if os.geteuid() != 0:
        t.skip("live capture needs root (veth, af_packet)")
    t.need("tcpreplay")
    t.need("ip")
    work = t.tmpdir()
    sample, packets = t.sample_capture(work, 1)
    # What the sample holds, from an offline run of an unregistered sensor.
    reference, _, _ = t.run_sensor(sample, os.path.join(work, "reference"))
    tag = os.getpid() % 100000
    a, b = "tpa%d" % tag, "tpb%d" % tag
    r = sh("ip", "link", "add", a, "mtu", "9000", "type", "veth", "peer", "name", b, "mtu", "9000", check=False)
    if r.returncode != 0:
        t.skip("cannot create a veth pair here: %s" % r.stderr.strip())
    sup = None
    plat = None
    try:
        for dev in (a, b):
            sh("sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev, check=False)
            sh("ip", "link", "set", dev, "up")
        plat = Platform(work, poll_seconds=1)
        created = plat.api("POST", "/api/v1/sensors", {"name": "live-1", "location": "lab"})
        sid = created["id"]
        state = os.path.join(work, "state")
        config = t.write_config(work, """
[sensor]
name = "tpl%d"
state_dir = "%s"
run_dir = "/tmp/tpl.%d"
[[capture.interface]]
name = "%s"
driver = "af_packet"
[aggregator]
asset_interval = "2s"
asset_update_interval = "4s"
[uplink]
output_interval = "2s"
""" % (tag, state, tag, a))
        p = supervisor("--register", created["personalization_code"], "--platform", plat.url, "--ca", plat.ca,
                       "--config", config)
        t.check(p.returncode == 0, "register: %d %s" % (p.returncode, p.stderr))
        err = open(os.path.join(work, "supervisor.err"), "w+")
        sup = subprocess.Popen([t.SUPERVISOR, "--config", config, "--quiet"], stdout=subprocess.DEVNULL, stderr=err)
        wait_for("Sensing", lambda: plat.sensor(sid)["status"] == "Sensing", 30)
        wait_for("the stages", lambda: len(stage_pids(sup.pid)) >= 4, 30)
        time.sleep(2)  # capture polls the port
        r = sh("tcpreplay", "-q", "--pps", "3000", "-i", b, sample, check=False)
        t.check(r.returncode == 0, "tcpreplay: %s" % r.stderr)
        assets_json = os.path.join(state, "assets.json")

        def local():
            try:
                with open(assets_json) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        wait_for("the sample's assets in assets.json", lambda: local() and canonical(local()) == canonical(reference), 30)
        wait_for("the platform's assets equal to assets.json",
                 lambda: canonical(plat.assets(sid)) == canonical(local()), 30)
        n = len(local())
        s = wait_for("health with packets", lambda: (lambda x: x if x["health"].get("packets", 0) >= packets else None)(
            plat.sensor(sid)), 20)
        t.check(s["interfaces"] and s["interfaces"][0]["name"] == a, "interfaces: %s" % s["interfaces"])

        # Configuration: applied, acknowledged, one restart.
        victim = max((x["ip"] for x in local() if x["ip"] and x["device_type"] != "router"),
                     key=lambda ip: tuple(int(v) for v in ip.split(".")))
        pid_before = sup.pid
        plat.api("PUT", "/api/v1/config/excluded", [{"name": "not this one", "ranges": [victim]}])
        wait_for("the revision applied", lambda: (lambda c: c["applied_revision"] == c["revision"] and c["revision"] > 0
                                                   and not c["pending"])(plat.sensor(sid)["config"]), 30)
        wait_for("the stages back", lambda: len(stage_pids(sup.pid)) >= 4, 30)
        t.check(sup.poll() is None and sup.pid == pid_before, "the supervisor did not stay up through the restart")
        with open(os.path.join(state, "tapsense.log")) as f:
            restarts = f.read().count("restarting the sensor")
        t.check(restarts == 1, "%d restarts for one configuration change" % restarts)

        # Pause: the pipeline stops, the sensor stays registered and says Paused.
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "pause"})
        wait_for("Paused", lambda: plat.sensor(sid)["status"] == "Paused", 30)
        wait_for("the stages stopped", lambda: stage_pids(sup.pid) == [], 30)
        t.check(sup.poll() is None, "a paused sensor exited")
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "start_sensing"})
        wait_for("Sensing again", lambda: plat.sensor(sid)["status"] == "Sensing", 30)
        wait_for("the stages again", lambda: len(stage_pids(sup.pid)) >= 4, 30)
        # The stages run the platform's configuration (the exclusion), and sense again.
        with open("/tmp/tpl.%d/effective.toml" % tag) as f:
            effective = f.read()
        t.check("[[excluded]]" in effective and victim in effective, "the stages do not run the exclusion of %s" % victim)
        time.sleep(2)
        r = sh("tcpreplay", "-q", "--pps", "3000", "-i", b, sample, check=False)
        wait_for("packets counted after start_sensing",
                 lambda: plat.sensor(sid)["health"].get("packets", 0) >= packets, 30)

        # Delete assets: both sides empty.
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "delete_assets"})
        wait_for("an empty assets.json", lambda: local() == [], 30)
        time.sleep(3)
        t.check(plat.assets(sid) == [], "the platform kept assets after delete_assets: %s" % canonical(plat.assets(sid)))

        # Deregister: the sensor stops, with its exit code.
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "deregister"})
        try:
            rc = sup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise t.Failure("the deregistered sensor did not stop")
        t.check(rc == DEREGISTERED, "deregistered: exit %d (expected %d)" % (rc, DEREGISTERED))
        err.seek(0)
        last = [l for l in err.read().splitlines() if l.strip()][-1]
        t.check("deregistered" in last, "last line: %r" % last)
        print("live: registered sensor Sensing with %d packets, %d assets equal on the platform; configuration "
              "applied with one restart; pause/start, delete_assets and deregister (exit %d) done" % (
                  s["health"]["packets"], n, rc))
    finally:
        if sup is not None and sup.poll() is None:
            sup.send_signal(signal.SIGINT)
            try:
                sup.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sup.kill()
                sup.wait()
        if plat is not None:
            plat.stop()
            plat.log.close()
        sh("ip", "link", "del", a, check=False)


t.main(run)

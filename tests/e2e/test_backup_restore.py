"""Backup and restore (the guide's best practice 5), with a real platform on
loopback. A sensor registered with its personalization code runs the sample
capture (the inventory lands in its state directory and on the platform);
`--backup FILE` saves it; `--restore FILE` into a fresh state directory
gives a sensor that, without registering again, reports a second capture to
the platform as the same sensor: one sensor on the platform, the same id,
its assets now those of both captures. The restored inventory equals the
original (every table's rows), the identity is byte for byte the same and
kept private (0600), the backup file too. The first run measures its
throughput at start (scaling = "on"): the platform shows what scaling.json says.
Restoring over a state directory
that already holds a sensor is refused (exit 75, one line)."""
import hashlib
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, one_line, supervisor, wait_for


def tables(db):
    con = sqlite3.connect(db)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: sorted(map(repr, con.execute('SELECT * FROM "%s"' % n).fetchall())) for n in names}
    finally:
        con.close()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    second, _ = t.sample_capture(work, 2)  # copy 1: another office, other addresses
    state_a = os.path.join(work, "state-a")
    config_a = t.write_config(work, """
[sensor]
name = "bk%d"
state_dir = "%s"
run_dir = "/tmp/tsbk.%d"
[capture]
pcap = ["%s"]
[supervisor]
metrics_listen = ""
scaling = "on"
""" % (os.getpid(), state_a, os.getpid(), sample))
    plat = Platform(work)
    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "bk", "location": "lab"})
        sid, code = created["id"], created["personalization_code"]
        p = supervisor("--register", code, "--platform", plat.url, "--ca", plat.ca, "--config", config_a)
        t.check(p.returncode == 0, "register: %s" % p.stderr)
        p = supervisor("--config", config_a, "--quiet")
        t.check(p.returncode == 0, "run A exited %d: %s" % (p.returncode, p.stderr))
        on_platform = wait_for("the first capture's assets on the platform", lambda: plat.assets(sid))
        n_first = len(on_platform)
        # The start-up measurement reached the platform (the guide's "estimated maximum throughput").
        with open(os.path.join(state_a, "scaling.json")) as f:
            measured = json.load(f)["bits_per_second"]
        health = plat.sensor(sid)["health"]
        t.check(measured > 0 and health.get("estimated_max_throughput_bps") == measured,
                "estimated maximum throughput on the platform %s, scaling.json %s" %
                (health.get("estimated_max_throughput_bps"), measured))

        backup = os.path.join(work, "sensor.tar.gz")
        p = supervisor("--backup", backup, "--config", config_a)
        t.check(p.returncode == 0, "--backup exited %d: %s" % (p.returncode, p.stderr))
        t.check(os.stat(backup).st_mode & 0o777 == 0o600, "backup mode %o" % (os.stat(backup).st_mode & 0o777))

        # A new appliance: a fresh state directory.
        state_b = os.path.join(work, "state-b")
        config_b = os.path.join(work, "restored.toml")
        p = supervisor("--restore", backup, "--config", config_b, "--state-dir", state_b)
        t.check(p.returncode == 0, "--restore exited %d: %s" % (p.returncode, p.stderr))
        ident_a, ident_b = (os.path.join(s, "platform", "identity") for s in (state_a, state_b))
        t.check(digest(ident_a) == digest(ident_b), "the restored identity differs")
        t.check(os.stat(ident_b).st_mode & 0o777 == 0o600, "restored identity mode %o" % (os.stat(ident_b).st_mode & 0o777))
        ta, tb = tables(os.path.join(state_a, "inventory.sqlite")), tables(os.path.join(state_b, "inventory.sqlite"))
        t.check(ta == tb, "the restored inventory differs in %s" % [k for k in ta if ta[k] != tb.get(k)])
        t.check(sum(len(v) for v in ta.values()) > 0, "the inventory was empty: nothing was tested")

        # Restoring over it again is refused.
        p = supervisor("--restore", backup, "--config", os.path.join(work, "again.toml"), "--state-dir", state_b)
        t.check(p.returncode == 75, "restore over a registered state: exit %d (expected 75)" % p.returncode)
        t.check("fresh state directory" in one_line(p, "restore over a sensor"), p.stderr)

        # The restored sensor carries on: no registration, same sensor on the platform.
        out = os.path.join(work, "out-b")
        assets_b, _, p = t.run_sensor(second, out, config=config_b)
        sensors = plat.api("GET", "/api/v1/sensors")["items"]
        t.check(len(sensors) == 1 and sensors[0]["id"] == sid,
                "the platform has %s after the restore" % [(s["id"], s["name"]) for s in sensors])
        t.check(plat.sensor(sid)["status"] == "Sensing", "restored sensor is %s" % plat.sensor(sid)["status"])
        both = wait_for("the second capture's assets on the platform",
                        lambda: (lambda a: a if len(a) > n_first else None)(plat.assets(sid)))
        mine = set(canonical(assets_b))
        t.check(mine <= set(canonical(both)), "the restored sensor's assets are not on the platform under sensor %d" % sid)
    finally:
        plat.stop()
    print("backup/restore: sensor %d restored into a fresh state directory (identity and %d inventory rows equal) "
          "reported %d more assets as the same sensor" % (sid, sum(len(v) for v in ta.values()), len(both) - n_first))


t.main(run)

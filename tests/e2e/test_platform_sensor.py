"""The sensor and its platform, both real, on loopback: tapsense-platform
serve (its own CA), a sensor created over the API and registered with its
personalization code, the bundled sample capture run offline through the
registered sensor, and the platform's inventory for that sensor equal to the
sensor's own assets.json (ip, mac, hostname, vendor, os, device_type).
Then what a user does from the platform: a configuration change (an
excluded range) applied and acknowledged, pause and start, delete assets,
deregister; and what goes wrong at registration: a wrong code, a platform
whose certificate the pinned CA did not sign, an unreachable platform, each
with its own exit code and one line."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import (PLATFORM, Platform, canonical, free_port, one_line, supervisor, CODE_UNKNOWN,
                             UNREACHABLE, TLS, DEREGISTERED, UNACKED, PAUSED)


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    t.need("openssl")
    work = t.tmpdir()
    sample, packets = t.sample_capture(work, 1)
    state = os.path.join(work, "state")
    config = t.write_config(work, '[sensor]\nname = "crane-1"\nstate_dir = "%s"\n' % state)
    plat = Platform(work)
    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "crane-1", "location": "Pune"})
        sid, code = created["id"], created["personalization_code"]
        t.check(re.fullmatch(r"\d{14}", code), "personalization code %r is not 14 digits" % code)
        t.check(plat.sensor(sid)["status"] == "Unregistered", "a new sensor is not Unregistered")

        # --- registration and what goes wrong with it ---------------------------
        wrong = "0" * 14 if code != "0" * 14 else "1" * 14
        p = supervisor("--register", wrong, "--platform", plat.url, "--ca", plat.ca, "--config", config)
        t.check(p.returncode == CODE_UNKNOWN, "wrong code: exit %d (expected %d): %s" % (p.returncode, CODE_UNKNOWN, p.stderr))
        t.check("code unknown" in one_line(p, "wrong code"), "wrong code: %r" % p.stderr)
        other_key, other_ca = os.path.join(work, "other.key"), os.path.join(work, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", other_key, "-out",
                        other_ca, "-days", "1", "-subj", "/CN=not the platform CA"], check=True, capture_output=True)
        p = supervisor("--register", code, "--platform", plat.url, "--ca", other_ca, "--config", config)
        t.check(p.returncode == TLS, "unpinned CA: exit %d (expected %d): %s" % (p.returncode, TLS, p.stderr))
        t.check("TLS not verified" in one_line(p, "unpinned CA"), "unpinned CA: %r" % p.stderr)
        p = supervisor("--register", code, "--platform", "https://127.0.0.1:%d" % free_port(), "--ca", plat.ca,
                       "--config", config)
        t.check(p.returncode == UNREACHABLE, "no platform: exit %d (expected %d): %s" % (p.returncode, UNREACHABLE, p.stderr))
        one_line(p, "no platform")
        t.check(not os.path.exists(os.path.join(state, "platform", "identity")), "a failed registration left an identity")

        for attempt in (1, 2):  # a retry with the same code is the same sensor
            p = supervisor("--register", code, "--platform", plat.url, "--ca", plat.ca, "--config", config)
            t.check(p.returncode == 0, "register (attempt %d): exit %d: %s" % (attempt, p.returncode, p.stderr))
            t.check("Appliance registration completed successfully" in p.stdout, "no confirmation: %r" % p.stdout)
            t.check("Status: Registered" in p.stdout, "no status: %r" % p.stdout)
        sensors = plat.api("GET", "/api/v1/sensors")["items"]
        t.check(len(sensors) == 1 and sensors[0]["id"] == sid, "a retried registration made %d sensors" % len(sensors))
        t.check(plat.sensor(sid)["status"] == "Registered", "after registration: %s" % plat.sensor(sid)["status"])
        ident = os.path.join(state, "platform", "identity")
        t.check(os.stat(ident).st_mode & 0o777 == 0o600, "identity file mode %o" % (os.stat(ident).st_mode & 0o777))

        # --- an offline run reports to the platform --------------------------------
        out = os.path.join(work, "out")
        assets, _, p = t.run_sensor(sample, out, config=config)
        t.check(len(assets) >= 5, "the sample gave only %d assets" % len(assets))
        t.check(os.listdir(os.path.join(state, "platform", "spool")) == ["last-id"],
                "reports left in the spool after a successful run: %s" % os.listdir(os.path.join(state, "platform", "spool")))
        on_platform = plat.assets(sid)
        t.check(canonical(on_platform) == canonical(assets),
                "platform assets differ from assets.json:\n platform %s\n sensor   %s" %
                (canonical(on_platform), canonical(assets)))
        s = plat.sensor(sid)
        t.check(s["status"] == "Sensing", "after a run the sensor is %s, not Sensing" % s["status"])
        t.check(s["health"].get("packets") == packets, "health packets %s, the capture has %d" % (s["health"].get("packets"), packets))
        t.check(s["active_assets_1h"] == len(assets), "active assets %s, assets.json %d" % (s["active_assets_1h"], len(assets)))
        with open(os.path.join(out, "tapsense.log")) as f:
            log = f.read()
        m = re.search(r"asset records (\d+) bytes \((\d+) per asset\)", log)
        t.check(m, "no report size in the log")
        per_asset = int(m.group(2))
        # On the wire the bodies are gzip (Content-Encoding): smaller still.
        gz = re.search(r"asset records \d+ bytes \(\d+ per asset\), gzip (\d+) bytes \((\d+) per asset\)", log)
        t.check(gz and 0 < int(gz.group(2)) < per_asset, "gzip per asset update: %s" % (gz and gz.group(0)))
        per_asset_gz = int(gz.group(2))
        # The guide: 1 Mbit/s for 10,000 assets, i.e. 22,500 bytes per asset per 30-minute update.
        t.check(0 < per_asset < 22500, "%d bytes per asset update" % per_asset)

        # --- configuration: an excluded range, applied and acknowledged -------------
        # A plain host (not the router, whose MAC the sensor knows from more than its address).
        victim = max((a["ip"] for a in assets if a["ip"] and a["device_type"] != "router"),
                     key=lambda ip: tuple(int(x) for x in ip.split(".")))
        plat.api("PUT", "/api/v1/config/excluded", [{"name": "not this one", "ranges": [victim]}])
        assets2, _, _ = t.run_sensor(sample, os.path.join(work, "out2"), config=config)
        t.check(victim not in [a["ip"] for a in assets2], "excluded %s still in assets.json" % victim)
        t.check(len(assets2) == len(assets) - 1, "%d assets with one excluded, %d before" % (len(assets2), len(assets)))
        cfg = plat.sensor(sid)["config"]
        t.check(cfg["applied_revision"] == cfg["revision"] and not cfg["pending"] and not cfg["error"],
                "configuration not acknowledged: %s" % cfg)
        with open(os.path.join(state, "platform", "config.toml")) as f:
            t.check(victim in f.read(), "the applied revision is not kept in state_dir")

        # --- the platform away: the run fails in one line, its reports wait in the spool ---
        plat.stop()
        _, _, p = t.run_sensor(sample, os.path.join(work, "away"), config=config, expect_rc=UNACKED)
        t.check("not acknowledged" in one_line(p, "platform away"), "platform away: %r" % p.stderr)
        spool = os.path.join(state, "platform", "spool")
        kept = sorted(f for f in os.listdir(spool) if f.endswith(".report"))
        t.check(kept, "no report kept in the spool while the platform was away")
        plat.start()
        before = plat.sensor(sid)["last_report_id"]
        assets_back, _, _ = t.run_sensor(sample, os.path.join(work, "back"), config=config)
        t.check(not [f for f in os.listdir(spool) if f.endswith(".report")], "the spool kept reports after a good run")
        t.check(plat.sensor(sid)["last_report_id"] >= int(kept[-1].split(".")[0]) > before,
                "the kept reports did not reach the platform (last report %d, kept %s)" %
                (plat.sensor(sid)["last_report_id"], kept))

        # --- pause and start ------------------------------------------------------------
        cmd = plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "pause"})
        _, _, p = t.run_sensor(sample, os.path.join(work, "out3"), config=config, expect_rc=PAUSED)
        t.check("paused" in one_line(p, "paused run"), "paused run: %r" % p.stderr)
        s = plat.sensor(sid)
        t.check(s["status"] == "Paused" and s["last_command_id"] == cmd["id"],
                "after pause: %s, last command %s (expected %s)" % (s["status"], s["last_command_id"], cmd["id"]))
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "start_sensing"})
        assets3, _, _ = t.run_sensor(sample, os.path.join(work, "out3"), config=config)
        t.check(plat.sensor(sid)["status"] == "Sensing", "start_sensing: %s" % plat.sensor(sid)["status"])
        t.check(canonical(plat.assets(sid)) == canonical(assets3 + [a for a in assets if a["ip"] == victim]),
                "platform assets after start_sensing differ")

        # --- delete assets: gone on both sides, the next run reports a full inventory ----
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "delete_assets"})
        t.check(plat.assets(sid) == [], "delete_assets left assets on the platform")
        assets4, _, _ = t.run_sensor(sample, os.path.join(work, "out4"), config=config)
        with open(os.path.join(work, "out4", "tapsense.log")) as f:
            t.check(re.search(r"report \d+ spooled: full,", f.read()), "no full report after delete_assets")
        t.check(canonical(plat.assets(sid)) == canonical(assets4), "after delete_assets the platform holds other assets")

        # --- events the sensor raises reach the platform ---------------------------------
        # (a test build's fault switch makes the fingerprinter crash on a packet twice:
        # the packet is quarantined and the supervisor raises "Packet Quarantined")
        env = dict(os.environ, TAPSENSE_FAULT="fingerprinter@5")
        evout = os.path.join(work, "events")
        p = subprocess.run([t.SUPERVISOR, "--pcap", sample, "--output", evout, "--config", config, "--quiet"],
                           capture_output=True, text=True, timeout=300, env=env)
        t.check(p.returncode == 0, "run with a crashing packet: exit %d: %s" % (p.returncode, p.stderr))
        local_events = []
        if os.path.exists(os.path.join(evout, "events.jsonl")):
            with open(os.path.join(evout, "events.jsonl")) as f:
                local_events = [json.loads(l)["event"] for l in f if l.strip()]
        if local_events:
            remote = [e["event"] for e in plat.api("GET", "/api/v1/sensors/%d/events" % sid)["items"]
                      if e["origin"] == "sensor"]
            t.check(sorted(remote) == sorted(local_events),
                    "events on the platform %s, in events.jsonl %s" % (remote, local_events))

        # --- deregister: the sensor stops, and says so once ----------------------------
        plat.api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "deregister"})
        _, _, p = t.run_sensor(sample, os.path.join(work, "out5"), config=config, expect_rc=DEREGISTERED)
        t.check("deregistered" in one_line(p, "deregistered run"), "deregistered run: %r" % p.stderr)
        _, _, p = t.run_sensor(sample, os.path.join(work, "out5"), config=config, expect_rc=DEREGISTERED)
        t.check("register it again" in one_line(p, "second deregistered run"), "%r" % p.stderr)
        t.check(plat.sensor(sid)["status"] == "Deregistered", "status %s" % plat.sensor(sid)["status"])
        print("platform: sensor %d registered with its code (a retry is the same sensor); %d assets from the sample "
              "equal on both sides; %d bytes per asset update (%d gzip); configuration, pause/start, delete assets and "
              "deregister applied; %d sensor event(s) on the platform" % (sid, len(assets), per_asset, per_asset_gz, len(local_events)))
    finally:
        plat.stop()
        plat.log.close()


t.main(run)

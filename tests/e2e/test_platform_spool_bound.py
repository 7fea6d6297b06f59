"""The spool bounded by bytes ([uplink] spool_mb): with the platform away and
a 1 MB bound, runs of a capture whose reports exceed it (60 copies of the
sample office) keep only what fits (never dropping the newest report), count
what they dropped in spool/dropped, and when the platform is back the
supervisor raises one "Reports Dropped" event that reaches the platform with
those counts; the platform's inventory is right again (its assets equal the
sensor's assets.json), and a later run raises no second event."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, supervisor, UNACKED


def spool_reports(state):
    d = os.path.join(state, "platform", "spool")
    return {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".report")}


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    work = t.tmpdir()
    big, _ = t.sample_capture(work, 60)
    state = os.path.join(work, "state")
    config = t.write_config(work, '[sensor]\nname = "bounded-1"\nstate_dir = "%s"\n[uplink]\nspool_mb = 1\n' % state)
    plat = Platform(work)
    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "bounded-1", "location": "lab"})
        sid = created["id"]
        p = supervisor("--register", created["personalization_code"], "--platform", plat.url, "--ca", plat.ca,
                       "--config", config)
        t.check(p.returncode == 0, "register: %d %s" % (p.returncode, p.stderr))
        plat.stop()
        for i in range(2):
            t.run_sensor(big, os.path.join(work, "away-%d" % i), config=config, expect_rc=UNACKED)
        kept = spool_reports(state)
        dropped_file = os.path.join(state, "platform", "spool", "dropped")
        t.check(os.path.exists(dropped_file), "nothing dropped past a 1 MB bound (spool %s)" % kept)
        with open(dropped_file) as f:
            reports, nbytes = (int(x) for x in f.read().split())
        t.check(reports >= 1 and nbytes > 0, "dropped %d reports, %d bytes" % (reports, nbytes))
        newest = max(kept)
        t.check(sum(kept.values()) <= 1 << 20 or list(kept) == [newest],
                "the spool holds %d bytes past its bound: %s" % (sum(kept.values()), kept))
        plat.start()
        assets, _, _ = t.run_sensor(big, os.path.join(work, "back"), config=config)
        t.check(canonical(plat.assets(sid)) == canonical(assets), "after the drops the platform's assets differ")
        events = [e for e in plat.api("GET", "/api/v1/sensors/%d/events" % sid)["items"] if e["event"] == "Reports Dropped"]
        t.check(len(events) == 1, "Reports Dropped events on the platform: %s" % events)
        text = str(events[0])
        t.check("%d report(s), %d bytes dropped in all" % (reports, nbytes) in text, "event says %s" % text)
        t.run_sensor(big, os.path.join(work, "again"), config=config)
        events = [e for e in plat.api("GET", "/api/v1/sensors/%d/events" % sid)["items"] if e["event"] == "Reports Dropped"]
        t.check(len(events) == 1, "the drop was raised again: %s" % events)
        print("spool bound: 1 MB kept %d report(s), %d dropped (%d bytes), one Reports Dropped event on the platform; "
              "%d assets equal after" % (len(kept), reports, nbytes, len(assets)))
    finally:
        plat.stop()
        plat.log.close()


t.main(run)

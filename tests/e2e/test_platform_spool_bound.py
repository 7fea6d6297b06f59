"""The spool bounded by bytes ([uplink] spool_mb): with the platform away and
a 1 MB bound, runs of a capture whose reports exceed it (60 copies of the
sample office) keep only what fits (never dropping the newest report), count
what they dropped in spool/dropped, and when the platform is back the
supervisor raises one "Reports Dropped" event that reaches the platform with
those counts; the platform's inventory is right again (its assets equal the
sensor's assets.json), and a later run raises no second event for them.

The run that finds the platform back may itself drop: its own first report
(1.5 MB, past the bound) can be spooled before the one left from the away
runs is delivered, and then pushes it out (more often on a loaded machine).
Such a drop is raised in an event of its own. So what holds is: the first
event covers the away runs' drops exactly, every drop is raised once (the
events' counts add up to spool/dropped), and a drop raised once is not
raised again."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, supervisor, UNACKED


def spool_reports(state):
    d = os.path.join(state, "platform", "spool")
    return {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".report")}


def drop_events(plat, sid):
    items = plat.api("GET", "/api/v1/sensors/%d/events" % sid)["items"]
    return sorted((e for e in items if e["event"] == "Reports Dropped"), key=lambda e: e["sensor_event_id"])


def raised_once(events, dropped_file):
    """Every drop the spool counted is in exactly one event: the events'
    counts add up to spool/dropped, and each event's total is that sum so far."""
    with open(dropped_file) as f:
        total = int(f.read().split()[0])
    so_far = 0
    for e in events:
        m = re.match(r"(\d+) report\(s\) dropped.*; (\d+) report\(s\), \d+ bytes dropped in all", e["message"])
        t.check(m, "event text: %r" % e["message"])
        if not m:
            return
        so_far += int(m.group(1))
        t.check(int(m.group(2)) == so_far, "event counts do not add up: %s" % [x["message"] for x in events])
    t.check(so_far == total, "events raise %d drop(s), the spool counted %d: %s" % (
        so_far, total, [x["message"] for x in events]))


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
        events = drop_events(plat, sid)
        t.check(len(events) >= 1, "no Reports Dropped event on the platform")
        if events:
            first = events[0]["message"]
            t.check(first.startswith("%d report(s) dropped" % reports) and
                    ("%d report(s), %d bytes dropped in all" % (reports, nbytes)) in first,
                    "the first event does not cover the away runs' %d drop(s), %d bytes: %s" % (reports, nbytes, first))
        raised_once(events, dropped_file)
        t.run_sensor(big, os.path.join(work, "again"), config=config)
        again = drop_events(plat, sid)
        raised_once(again, dropped_file)
        t.check(again[:len(events)] == events, "events raised before changed: %s" % again)
        print("spool bound: 1 MB kept %d report(s), %d dropped (%d bytes) while away, raised in the first of %d "
              "Reports Dropped event(s) on the platform; %d assets equal after" % (
                  len(kept), reports, nbytes, len(events), len(assets)))
    finally:
        plat.stop()
        plat.log.close()


t.main(run)

"""The guide's subscription table seen by a real sensor: the supervisor
registered with a real platform (`--register`), offline runs on the project's
sample capture, the platform's clock moved by TAPSENSE_PLATFORM_CLOCK_FILE.
A sensor subscription lapsed for more than 30 days pauses the sensor through
its own check-in handling (exit 88, one line); start_sensing is refused until
the subscription is reactivated, then the next run senses again. A platform
subscription lapsed for more than 30 days deregisters it (exit 86, one
line), and the platform shows it Deregistered."""
import datetime
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
import platform_test as pt
from sensor_platform import supervisor, one_line, DEREGISTERED, PAUSED

DAY = 86400


def run():
    if not os.access(pt.PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    work = t.tmpdir("tps-subs-sensor-")
    p = pt.Platform(os.path.join(work, "data"), poll_seconds=2)
    try:
        sample, _ = t.sample_capture(work, 1)
        state = os.path.join(work, "state")
        config = t.write_config(work, '[sensor]\nname = "crane-1"\nstate_dir = "%s"\n' % state)
        p.add_user("admin", "admin", "admin-password")
        tok = p.add_token("admin")
        clock = os.path.join(work, "clock")

        def set_clock(seconds):
            with open(clock + ".tmp", "w") as f:
                f.write("%d\n" % seconds)
            os.replace(clock + ".tmp", clock)

        set_clock(0)
        p.start(env={"TAPSENSE_PLATFORM_CLOCK_FILE": clock})

        def api(method, path, body=None, want=(200, 201, 204)):
            st, _, b = p.api(method, path, body, token=tok)
            t.check(st in want, "%s %s: %d %r" % (method, path, st, b))
            return b

        s = api("POST", "/api/v1/sensors", {"name": "crane-1", "location": "Pune"})
        sid = s["id"]
        r = supervisor("--register", s["personalization_code"], "--platform", p.url, "--ca", p.ca, "--config", config)
        t.check(r.returncode == 0, "register: exit %d: %s" % (r.returncode, r.stderr))
        assets, _, _ = t.run_sensor(sample, os.path.join(work, "out1"), config=config)
        t.check(assets and api("GET", "/api/v1/sensors/%d" % sid)["status"] == "Sensing", "sensing at first")

        today = datetime.datetime.now(datetime.timezone.utc).date()
        yesterday = (today - datetime.timedelta(days=1)).isoformat()
        next_year = (today + datetime.timedelta(days=365)).isoformat()

        # Sensor subscription: 29 days on, still sensing; 31 days on, paused.
        api("PUT", "/api/v1/subscriptions", {"sensor": {"end_date": yesterday}})
        set_clock(29 * DAY)
        t.run_sensor(sample, os.path.join(work, "out2"), config=config)
        set_clock(31 * DAY)
        _, _, r = t.run_sensor(sample, os.path.join(work, "out3"), config=config, expect_rc=PAUSED)
        t.check("paused" in one_line(r, "paused by the subscription"), "paused run: %r" % r.stderr)
        t.check(api("GET", "/api/v1/sensors/%d" % sid)["status"] == "Paused", "the platform shows it Paused")
        api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "start_sensing"}, want=(409,))
        api("PUT", "/api/v1/subscriptions", {"sensor": {"end_date": next_year}})
        _, _, r = t.run_sensor(sample, os.path.join(work, "out4"), config=config, expect_rc=PAUSED)
        api("POST", "/api/v1/sensors/%d/commands" % sid, {"command": "start_sensing"})
        assets, _, _ = t.run_sensor(sample, os.path.join(work, "out5"), config=config)
        t.check(assets and api("GET", "/api/v1/sensors/%d" % sid)["status"] == "Sensing", "sensing again by hand")

        # Platform subscription: 31 days after it lapsed, the sensor is deregistered.
        set_clock(0)
        api("PUT", "/api/v1/subscriptions", {"platform": {"end_date": yesterday}})
        t.run_sensor(sample, os.path.join(work, "out6"), config=config)
        set_clock(31 * DAY)
        _, _, r = t.run_sensor(sample, os.path.join(work, "out7"), config=config, expect_rc=DEREGISTERED)
        t.check("deregistered" in one_line(r, "deregistered by the subscription"), "%r" % r.stderr)
        t.check(api("GET", "/api/v1/sensors/%d" % sid)["status"] == "Deregistered", "the platform shows it Deregistered")
        print("a real sensor paused and deregistered by lapsed subscriptions, and sensing again after reactivation")
    finally:
        p.stop()
        shutil.rmtree(work, ignore_errors=True)


t.main(run)

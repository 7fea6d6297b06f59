"""The web console in a real browser (Debian's chromium, headless, driven by
playwright-core from platform/console's lockfile) against a real platform
on loopback and a real sensor: log in, create a sensor and read its code,
register tapsense-supervisor with that code and run it offline on the
capture the project makes (deploy/make-sample.py), watch it turn Sensing,
pause and start (its run exits 88 while paused), internal-group and
interface changes with the API's validation messages, the sensor applying
the new revision (its state_dir), an asset found by host name with its raw
data equal to assets.json and its traffic summary checked against the
sensor's own traffic.json, a viewer refused.
Screenshots of each page: build/console-screenshots/."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
import platform_test as pt

HERE = os.path.dirname(os.path.abspath(__file__))
CONSOLE_SRC = os.path.normpath(os.path.join(HERE, "..", "..", "platform", "console"))


def run():
    if not os.path.exists(pt.PLATFORM):
        t.skip("tapsense-platform is not built")
    console = os.path.join(t.BIN, "console", "index.html")
    t.check(os.path.exists(console), "the console bundle is missing (%s): cmake --build builds it" % console)
    for need in ("node", "capnp"):
        t.check(shutil.which(need) is not None, "%s is missing (deploy/install-deps.sh installs it)" % need)
    if not os.path.exists("/usr/bin/chromium"):
        t.skip("Debian's chromium is not installed (deploy/install-deps.sh installs it)")
    work = t.tmpdir("tps-console-")
    sample, packets = t.sample_capture(work, 1)
    state = os.path.join(work, "state")
    # The sensor's configuration: its state_dir keeps the platform identity.
    config = t.write_config(work, '[sensor]\nname = "appliance-1"\nstate_dir = "%s"\n' % state)
    shots = os.path.join(t.BUILD, "console-screenshots")
    shutil.rmtree(shots, ignore_errors=True)
    # Not Connected after 3 x poll + 30 s without a check-in: 60 s, more than the
    # longest pause between two of the sensor's runs below.
    p = pt.Platform(os.path.join(work, "data"), poll_seconds=10)
    try:
        p.add_user("admin", "admin", "admin-password")
        p.add_user("watcher", "viewer", "viewer-password")
        p.start()
        env = dict(os.environ, URL=p.url, CA=p.ca, ADMIN_PASS="admin-password", VIEWER_PASS="viewer-password",
                   SHOTS=shots, CONSOLE_SRC=CONSOLE_SRC, SUPERVISOR=t.SUPERVISOR, CONFIG=config, STATE_DIR=state,
                   SAMPLE=sample, PACKETS=str(packets), WORK=work)
        r = subprocess.run(["node", os.path.join(HERE, "console_browser.mjs")], env=env, timeout=300)
        if r.returncode == 77:
            t.skip("chromium cannot start here (see the line above)")
        t.check(r.returncode == 0, "the browser test failed (exit %d); screenshots in %s" % (r.returncode, shots))
        print("screenshots: %s (%d pages)" % (shots, len(os.listdir(shots))))
    finally:
        p.stop()


if __name__ == "__main__":
    t.main(run)

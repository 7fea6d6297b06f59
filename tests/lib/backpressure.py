"""A run with the uplink frozen, against the same run without the freeze.

Shared by tests/fault/test_report_backpressure.py (the aggregator's report
ring) and tests/fault/test_fingerprinter_backpressure.py (the fingerprinter's):
120 copies of the sample office replayed over about 12 s, the squeezed stage's
report ring 1 MiB, the uplink frozen with SIGSTOP once capture has read a tenth
of the file and thawed only after capture has read all of it. Offline capture
waits for room in its ring, so a stage that waited for its report ring would
hold capture back while the uplink sleeps.

The checks every such run makes: capture reads the whole file while the uplink
is frozen, the stage's report spool holds what its ring has no room for
(spool.bytes > 0), the stage never waited (out.waits 0); after SIGCONT the run
exits 0, capture dropped nothing, the supervisor did not restart the frozen
uplink, assets.json and flows.json EQUAL the run without the freeze (with each
flow's interval end: an interval merged with the next would show there), and
nothing is left in /dev/shm or the run directory."""
import os
import signal
import subprocess
import time

import tapsense_test as t
from outputs import canonical, compare

COPIES = 120
RUN_SECONDS = 12.0


def config(work, rate, squeeze):
    """squeeze: "aggregator" or "fingerprinter", the stage given a 1 MiB report ring."""
    fingerprinter = "\n[fingerprinter]\nworkers = 1\nreport_ring_mb = 1\n" if squeeze == "fingerprinter" else ""
    aggregator = "report_ring_mb = 1\n" if squeeze == "aggregator" else ""
    return t.write_config(work, t.ALL_INTERNAL + """
[capture]
offline_rate = %d
packet_ring_mb = 1
%s
[aggregator]
%sflow_interval = "10s"
asset_interval = "5s"
asset_update_interval = "20s"

[supervisor]
heartbeat_ms = 500
hang_timeout_ms = 120000
""" % (rate, fingerprinter, aggregator))


def run(stage, tag, progress, after=None):
    """stage: the squeezed stage's counters ("aggregator.0"); tag: a short
    name for the instance and run directory; progress(counters) -> text for
    the line printed while the uplink is frozen; after(counters): the stage's
    own checks once the run has ended."""
    t.need("capinfos")
    work = t.tmpdir()
    pcap, packets = t.sample_capture(work, COPIES)
    cfg = config(work, int(packets / RUN_SECONDS), stage.split(".")[0])
    clean_out = os.path.join(work, "clean")
    t.run_sensor(pcap, clean_out, config=cfg)
    clean = canonical(clean_out)
    print("clean run: %d packets, %d assets, %d flows" % (packets, len(clean[0]), len(clean[1])))

    out = os.path.join(work, "stopped")
    instance = "%s%d" % (tag, os.getpid())
    run_dir = "/tmp/%s.%d" % (tag, os.getpid())
    proc = subprocess.Popen([t.SUPERVISOR, "--pcap", pcap, "--output", out, "--config", cfg, "--run-dir", run_dir,
                             "--instance", instance, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    name = stage.split(".")[0]
    uplink = None
    stopped_at = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            s = t.sensor_stats(run_dir)
            if s and "uplink" in s and "capture" in s and s["capture"].get("rx.packets", 0) >= packets * 0.1:
                uplink = s["uplink"]["pid"]
                os.kill(uplink, signal.SIGSTOP)
                stopped_at = (time.time(), s["capture"]["rx.packets"])
                break
            time.sleep(0.05)
        t.check(uplink is not None, "the uplink was never stopped: capture never read a tenth of the file")
        # Frozen uplink: capture must still get to the end of the file, and
        # the stage handle what it is given, at the replay's own pace.
        last = None
        deadline = time.time() + RUN_SECONDS * 3
        while time.time() < deadline and proc.poll() is None:
            s = t.sensor_stats(run_dir)
            if s and "capture" in s and stage in s:
                last = s
                if s["capture"].get("rx.packets", 0) >= packets and s[stage].get("spool.bytes", 0) > 0:
                    time.sleep(1.0)
                    last = t.sensor_stats(run_dir) or last
                    break
            time.sleep(0.2)
        t.check(proc.poll() is None, "the run ended while the uplink was stopped")
        t.check(last is not None, "no counters while the uplink was stopped")
        cap, st = last["capture"], last[stage]
        stopped_for = time.time() - stopped_at[0]
        t.check(cap.get("rx.packets", 0) >= packets,
                "with the uplink stopped for %.1f s capture read only %d of %d packets: the %s waited "
                "for the report path (%s)" % (stopped_for, cap.get("rx.packets", 0), packets, name, st))
        t.check(st.get("spool.bytes", 0) > 0, "nothing waiting in the %s's spool while the uplink is stopped: %s"
                % (name, st))
        t.check(st.get("out.waits", 0) == 0, "the %s waited for the report ring %d times" % (name, st["out.waits"]))
        print("uplink stopped at packet %d of %d for %.1f s: capture read all, %s" % (
            stopped_at[1], packets, stopped_for, progress(st)))
    finally:
        if uplink is not None:
            os.kill(uplink, signal.SIGCONT)
    _, err = proc.communicate(timeout=180)
    t.check(proc.returncode == 0, "the run exited %d: %s" % (proc.returncode, err.strip()[-600:]))
    drops = {k: v for k, v in cap.items() if ("drops" in k or "drop" in k.split(".")[-1]) and v != 0}
    t.check(not drops, "capture dropped packets: %s" % drops)
    if after:
        after(st)
    with open(os.path.join(out, "tapsense.log")) as f:
        log = f.read()
    t.check("uplink missed heartbeats" not in log, "the supervisor restarted the stopped uplink")
    compare("uplink stopped", clean, canonical(out))
    left = t.leftovers(instance, run_dir)
    t.check(not left, "left behind %s" % left)
    print("after SIGCONT: exit 0, no drops, assets and flows equal the run without the stop, nothing left")

"""A stage killed or frozen in the middle of a run costs nothing.

On a capture the project makes itself (300 copies of the sample office), each
stage in turn -- capture, aggregator, fingerprinter, uplink -- is
 - killed with SIGKILL once its own counters (read over the control channel
   with `tapsense-supervisor --stats`) show it has done a third of its work,
 - frozen with SIGSTOP at the same point, until the supervisor's hang timeout
   kills and restarts it.
Every run must exit 0, its log must show the restart, its assets and flows
must EQUAL a clean run's (the README promises a restart loses nothing: no
tolerance), and nothing may be left in /dev/shm, /dev/hugepages or the run
directory afterwards."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import outputs
import tapsense_test as t
from outputs import compare

COPIES = 300
RUN_SECONDS = 6.0

# The counter that says how far a stage has got, and what "a third" of its
# work is, as a fraction of the capture's packets.
PROGRESS = {
    "capture": ("rx.packets", 0.33),
    "aggregator.0": ("packets", 0.33),
    "fingerprinter.0": ("snapshots", 0.33 * 0.5),  # about half the packets are snapshots
    # The uplink counts batches, not packets: it has applied some, and capture
    # has read a third of the file.
    "uplink": ("batches.applied", None),
}


def canonical(out):
    return outputs.canonical(out, interval_end=False)


def one_run(pcap, packets, cfg, work, victim, sig, clean):
    tag = "%s-%s" % (victim.split(".")[0], "kill" if sig == signal.SIGKILL else "stop")
    out = os.path.join(work, tag)
    instance = "tsf%d%s" % (os.getpid(), tag[:6].replace("-", ""))
    run_dir = "/tmp/tsf.%d.%s" % (os.getpid(), tag)
    proc = subprocess.Popen([t.SUPERVISOR, "--pcap", pcap, "--output", out, "--config", cfg, "--run-dir", run_dir,
                             "--instance", instance, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    counter, share = PROGRESS[victim]
    threshold = packets * share if share is not None else 1
    hit_at = None
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        s = t.sensor_stats(run_dir)
        if s and victim in s and "capture" in s:
            done = s[victim].get(counter, 0)
            if done >= threshold and (share is not None or s["capture"].get("rx.packets", 0) >= packets * 0.33):
                t.check(s["capture"].get("rx.packets", 0) < packets, "%s: capture had read everything already" % tag)
                os.kill(s[victim]["pid"], sig)
                hit_at = (done, s["capture"].get("rx.packets", 0))
                break
        time.sleep(0.05)
    t.check(hit_at is not None, "%s: the stage never reached %s >= %d while the run lasted" % (tag, counter,
                                                                                               threshold))
    _, err = proc.communicate(timeout=180)
    t.check(proc.returncode == 0, "%s: the run exited %d: %s" % (tag, proc.returncode, err.strip()[-600:]))
    with open(os.path.join(out, "tapsense.log")) as f:
        log = f.read()
    said = "%s was killed by signal 9" % victim if sig == signal.SIGKILL else "%s missed heartbeats" % victim
    t.check(said in log, "%s: the log does not say '%s'" % (tag, said))
    compare(tag, clean, canonical(out))
    left = t.leftovers(instance, run_dir)
    t.check(not left, "%s: left behind %s" % (tag, left))
    print("%s: %s at %s=%d (capture at packet %d of %d): restarted, outputs equal the clean run, nothing left" % (
        tag, sig.name, counter, hit_at[0], hit_at[1], packets))


def run():
    t.need("capinfos")
    work = t.tmpdir()
    pcap, packets = t.sample_capture(work, COPIES)
    rate = int(packets / RUN_SECONDS)
    # A hang is noticed after 3 s without a heartbeat (heartbeats every 0.5 s).
    cfg = t.write_config(work, t.ALL_INTERNAL + "\n[capture]\noffline_rate = %d\n"
                         "\n[supervisor]\nheartbeat_ms = 500\nhang_timeout_ms = 3000\n" % rate)
    clean_out = os.path.join(work, "clean")
    t.run_sensor(pcap, clean_out, config=cfg)
    clean = canonical(clean_out)
    print("clean run: %d packets, %d assets, %d flows" % (packets, len(clean[0]), len(clean[1])))
    for sig in (signal.SIGKILL, signal.SIGSTOP):
        for victim in ("capture", "aggregator.0", "fingerprinter.0", "uplink"):
            one_run(pcap, packets, cfg, work, victim, sig, clean)


t.main(run)

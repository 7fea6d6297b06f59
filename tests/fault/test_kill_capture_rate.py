"""kill -9 the capture in the middle of an offline run paced by
capture.offline_rate: the supervisor restarts it, the new capture skips what
the first one published without waiting (the pacing counts only packets it
publishes itself) and without moving the resume point back, so the run ends
about when a clean run ends and its assets and flows equal the clean run's
exactly (every packet published once)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

RATE = 100  # packets/s: the 514-packet sample takes about 5 s


def canonical(out):
    with open(os.path.join(out, "assets.json")) as f:
        assets = json.load(f)
    with open(os.path.join(out, "flows.json")) as f:
        flows = json.load(f)
    a = sorted((x["ip"], x["mac"], x["hostname"], x["os"], x["vendor"], x["bytes_in"], x["bytes_out"])
               for x in assets)
    fl = sorted((x["interval_start"], x["src_ip"], x["dst_ip"], x["dst_port"], x["protocol"], x["packets"],
                 x["bytes_src_to_dst"], x["bytes_dst_to_src"]) for x in flows)
    return a, fl


def run():
    work = t.tmpdir()
    pcap = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), pcap], check=True,
                   capture_output=True)
    packets = int(subprocess.run(["capinfos", "-c", "-M", pcap], capture_output=True, text=True, check=True)
                  .stdout.strip().split()[-1])
    cfg = t.write_config(work, "\n[capture]\noffline_rate = %d\n" % RATE)

    clean_out = os.path.join(work, "clean")
    t0 = time.time()
    t.run_sensor(pcap, clean_out, config=cfg)
    clean_secs = time.time() - t0
    clean = canonical(clean_out)
    t.check(clean_secs >= packets / RATE * 0.8, "the clean run took %.1f s: offline_rate %d did not pace %d packets"
            % (clean_secs, RATE, packets))

    out = os.path.join(work, "killed")
    run_dir = "/tmp/tsf.%d.rate" % os.getpid()
    t0 = time.time()
    proc = subprocess.Popen([t.SUPERVISOR, "--pcap", pcap, "--output", out, "--config", cfg, "--run-dir", run_dir,
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = None
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        s = t.sensor_stats(run_dir)
        if s and "capture" in s:
            done = s["capture"].get("rx.packets", 0)
            if done > packets * 0.4:
                t.check(done < packets, "the run finished before the kill")
                os.kill(s["capture"]["pid"], signal.SIGKILL)
                killed_at = done
                break
        time.sleep(0.1)
    t.check(killed_at is not None, "could not kill the capture mid-run")
    _, err = proc.communicate(timeout=120)
    secs = time.time() - t0
    shutil.rmtree(run_dir, ignore_errors=True)
    t.check(proc.returncode == 0, "run exited %d after the kill: %s" % (proc.returncode, err))
    with open(os.path.join(out, "tapsense.log")) as f:
        log = f.read()
    t.check("capture was killed by signal 9" in log, "no restart of the capture in the log")
    t.check("missed heartbeats" not in log, "the restarted capture hung (missed heartbeats):\n%s" % log[-2000:])
    resumed = [int(x) for x in re.findall(r"restarted: resuming after packet (\d+)", log)]
    t.check(len(resumed) == 1, "expected one resume, the log shows %s" % resumed)
    t.check(resumed[0] >= killed_at, "resumed after packet %d, before the %d the killed capture had read and published"
            % (resumed[0], killed_at))
    # The restart costs a process start, not a hang: within 5 s of the clean run.
    t.check(secs < clean_secs + 5, "the run with a kill took %.1f s, the clean run %.1f s" % (secs, clean_secs))
    got = canonical(out)
    t.check(got[0] == clean[0], "assets differ from the clean run:\n got %s\n clean %s" % (got[0][:5], clean[0][:5]))
    t.check(got[1] == clean[1], "flows differ from the clean run: %d vs %d rows, first difference %s" % (
        len(got[1]), len(clean[1]), next(((g, c) for g, c in zip(got[1], clean[1]) if g != c), None)))
    print("capture killed at packet %d of %d (offline_rate %d): resumed after %d, run %.1f s (clean %.1f s), "
          "%d assets and %d flow rows equal the clean run" % (killed_at, packets, RATE, resumed[0], secs, clean_secs,
                                                               len(clean[0]), len(clean[1])))


t.main(run)

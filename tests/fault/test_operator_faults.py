"""What an operator does wrong, and what the machine does to the sensor, on a
capture the project makes itself (make-sample.py --copies 300):
 - a second sensor with the same instance name, and a second run into the
   same output directory: refused with one line and exit 75, the first run
   undisturbed;
 - heartbeat_ms above half the hang timeout: refused at load, exit 78, with
   file:line:column;
 - a --run-dir too long for its control socket: exit 2, and the previous
   run's outputs in that output directory are still there;
 - the supervisor killed with SIGKILL: its stages notice and exit, and the
   next start reclaims the shared memory it left (and says so), leaving
   nothing behind once it ends;
 - a full disk under the output directory (a 3 MiB tmpfs in a private mount
   namespace): exit 74, 'no space left on <dir>' said once, the uplink not
   restarted in a loop;
 - /dev/shm too small for the tables and rings (a tmpfs over it in a private
   mount namespace): exit 69 before any stage starts; and filled by another
   program after that check, while the stages start: exit 69 with the
   reason once the supervisor reserves the segments, no stage left;
   a file that ends before the reservation does still completes;
 - Ctrl-C (SIGINT) mid-run: exit 130, the outputs written, and the summary
   counts the packets read, not the file's;
 - report rings of 1 MiB (batches must be cut to fit): the run completes and
   equals the default run."""
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

COPIES = 300


def start(pcap, out, cfg, instance, run_dir=None, quiet=True):
    cmd = [t.SUPERVISOR, "--pcap", pcap, "--output", out, "--config", cfg, "--instance", instance]
    if run_dir:
        cmd += ["--run-dir", run_dir]
    if quiet:
        cmd.append("--quiet")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line(err):
    lines = [x for x in err.strip().split("\n") if x.strip()]
    t.check(len(lines) == 1, "expected one line on stderr, got %d: %r" % (len(lines), err[-500:]))
    return lines[0]


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise t.Failure("%s within %d s" % (what, seconds))


def kill_supervisor_mid_run(pcap, out, cfg, inst, run_dir):
    """Starts a slow run, SIGKILLs its supervisor alone once the four stages
    have run a second; returns their pids (they are still ending their run)."""
    sup = start(pcap, out, cfg, inst, run_dir)
    wait_for(lambda: len(t.stage_pids(run_dir)) == 4, 20, "the four stages did not start")
    time.sleep(1.0)
    stages = set(t.stage_pids(run_dir))
    sup.kill()
    sup.wait()
    return sup.pid, stages


def run():
    t.need("capinfos")
    t.need("unshare")
    work = t.tmpdir()
    pid = os.getpid()
    pcap, packets = t.sample_capture(work, COPIES)
    all_cfg = t.write_config(work, t.ALL_INTERNAL)
    slow = os.path.join(work, "slow.toml")
    with open(slow, "w") as f:
        f.write(t.ALL_INTERNAL + "\n[capture]\noffline_rate = %d\n" % (packets // 5))

    # Clean run, default rings.
    clean_assets, clean_flows, _ = t.run_sensor(pcap, os.path.join(work, "clean"), config=all_cfg)

    # One sensor per instance, one run per output directory.
    inst = "tso%da" % pid
    first = start(pcap, os.path.join(work, "first"), slow, inst)
    time.sleep(1.0)
    second = subprocess.run([t.SUPERVISOR, "--pcap", pcap, "--output", os.path.join(work, "second"), "--config",
                             all_cfg, "--instance", inst, "--quiet"], capture_output=True, text=True, timeout=60)
    t.check(second.returncode == 75, "same instance: exit %d, not 75" % second.returncode)
    line = one_line(second.stderr)
    t.check(inst in line and "another sensor" in line, "same instance: %r" % line)
    same_dir = subprocess.run([t.SUPERVISOR, "--pcap", pcap, "--output", os.path.join(work, "first"), "--config",
                               all_cfg, "--quiet"], capture_output=True, text=True, timeout=60)
    t.check(same_dir.returncode == 75, "same output directory: exit %d, not 75" % same_dir.returncode)
    t.check("output directory" in one_line(same_dir.stderr), "same output directory: %r" % same_dir.stderr)
    _, err = first.communicate(timeout=120)
    t.check(first.returncode == 0, "the first run was disturbed: exit %d: %s" % (first.returncode, err[-400:]))
    with open(os.path.join(work, "first", "assets.json")) as f:
        t.check(len(json.load(f)) == len(clean_assets), "the first run's assets differ from the clean run's")
    print("second sensor of an instance and second run into a directory: refused (75), first run intact")

    # Heartbeat slower than half the hang timeout.
    hb = os.path.join(work, "hb.toml")
    with open(hb, "w") as f:
        f.write("[supervisor]\nheartbeat_ms = 3000\nhang_timeout_ms = 4000\n")
    p = subprocess.run([t.SUPERVISOR, "--pcap", pcap, "--output", os.path.join(work, "hb"), "--config", hb, "--quiet"],
                       capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 78, "heartbeat_ms: exit %d, not 78" % p.returncode)
    t.check(re.search(r"hb\.toml:2:\d+: .*heartbeat_ms", one_line(p.stderr)), "heartbeat_ms: %r" % p.stderr)
    print("heartbeat_ms above half the hang timeout: refused at load (78, file:line:column)")

    # A run directory too long: refused before the old outputs are touched.
    long_dir = "/tmp/" + "x" * 120
    p = subprocess.run([t.SUPERVISOR, "--pcap", pcap, "--output", os.path.join(work, "clean"), "--config", all_cfg,
                        "--run-dir", long_dir, "--quiet"], capture_output=True, text=True, timeout=30)
    t.check(p.returncode == 2, "long run dir: exit %d, not 2" % p.returncode)
    t.check("too long" in one_line(p.stderr), "long run dir: %r" % p.stderr)
    t.check(os.path.exists(os.path.join(work, "clean", "assets.json")), "long run dir: the old outputs were deleted")
    t.check(not os.path.exists(long_dir), "long run dir: it was created")
    print("run directory too long: refused (2), old outputs kept")

    # The supervisor killed by SIGKILL.
    inst = "tso%db" % pid
    run_dir = "/tmp/tso.%d.b" % pid
    kill_supervisor_mid_run(pcap, os.path.join(work, "orphan"), slow, inst, run_dir)
    t.check(t.stage_pids(run_dir), "the stages were gone before the check")
    wait_for(lambda: not t.stage_pids(run_dir), 10, "stages still run after their supervisor died")
    # What the killed supervisor left. Any supervisor's start reclaims the
    # segments of dead instances, so a test starting beside this one may
    # already have removed them: what must hold is that after the next start
    # nothing is left, and that a start which found them says it removed them.
    left_by_killed = t.leftovers(inst)
    p = subprocess.run([t.SUPERVISOR, "--pcap", pcap, "--output", os.path.join(work, "after"), "--config", all_cfg,
                        "--instance", inst, "--run-dir", run_dir, "--quiet"], capture_output=True, text=True,
                       timeout=120)
    t.check(p.returncode == 0, "the run after the killed one: exit %d: %s" % (p.returncode, p.stderr[-400:]))
    said = re.search(r"removed \d+ stale shared-memory segment|removed \d+ shared-memory segment\(s\) .* whose "
                     r"supervisor died", p.stderr)
    t.check(said or not t.leftovers(inst), "the reclaim is not said: %r" % p.stderr)
    left = t.leftovers(inst)
    t.check(not left, "left behind after the next run: %s" % left)
    with open(os.path.join(work, "after", "assets.json")) as f:
        t.check(len(json.load(f)) == len(clean_assets), "the run after the killed one differs from the clean run")
    shutil.rmtree(run_dir, ignore_errors=True)
    print("supervisor SIGKILLed: its stages exited, its %d segment(s) were reclaimed (%s), nothing left" % (
        len(left_by_killed), "by the next start, which said so" if said else "by another test's start"))

    # The supervisor killed alone and started again at once: its stages end
    # their run (SIGTERM), and the new start waits for them instead of
    # running beside them (two uplinks on one inventory and one spool).
    inst = "tso%dg" % pid
    run_dir = "/tmp/tso.%d.g" % pid
    killed_pid, old = kill_supervisor_mid_run(pcap, os.path.join(work, "killed"), slow, inst, run_dir)
    again = start(pcap, os.path.join(work, "again"), all_cfg, inst, run_dir)
    beside = set()  # stages of both runs at one time
    deadline = time.time() + 120
    while again.poll() is None and time.time() < deadline:
        now = set(t.stage_pids(run_dir))
        if now & old and now - old:
            beside |= now
        time.sleep(0.02)
    _, err = again.communicate(timeout=60)
    t.check(again.returncode == 0, "the start after the killed supervisor: exit %d: %s" % (again.returncode,
                                                                                           err[-400:]))
    t.check(not beside, "stages of the killed run and of the next one ran at once: %s" % sorted(beside))
    t.check(not old & set(t.stage_pids(run_dir)), "the killed run's stages still run")
    said = re.search(r"instance '%s': its previous supervisor \(pid %d\) died; waiting for the stages it started "
                     r"to end their run" % (inst, killed_pid), err)
    t.check(said, "the wait is not said: %r" % err[-400:])
    with open(os.path.join(work, "again", "tapsense.log")) as f:
        ended = re.search(r"waiting for the stages it started to end their run: they ended after ([\d.]+) s", f.read())
    t.check(ended, "the log does not say how long the start waited")
    with open(os.path.join(work, "again", "assets.json")) as f:
        t.check(len(json.load(f)) == len(clean_assets), "the run after the killed one differs from the clean run")
    t.check(not t.leftovers(inst), "killed and started again: left %s" % t.leftovers(inst))
    shutil.rmtree(run_dir, ignore_errors=True)
    print("supervisor SIGKILLed and started again at once: waited %s s for its %d stages, never beside them" % (
        ended.group(1), len(old)))

    # A full disk under the output directory.
    mnt = os.path.join(work, "small")
    os.makedirs(mnt)
    inst = "tso%dc" % pid
    script = ("mount -t tmpfs -o size=3m none %s && exec %s --pcap %s --output %s/out --config %s --instance %s "
              "--quiet" % (mnt, t.SUPERVISOR, pcap, mnt, all_cfg, inst))
    started = time.time()
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    took = time.time() - started
    t.check(p.returncode == 74, "full disk: exit %d, not 74: %s" % (p.returncode, p.stderr[-400:]))
    said = [x for x in p.stderr.split("\n") if "no space left on" in x]
    t.check(len(said) == 1 and mnt in said[0], "full disk: 'no space left on %s' said %d times: %r" % (
        mnt, len(said), p.stderr[-600:]))
    t.check("uplink was" not in p.stderr and "restart" not in p.stderr,
            "full disk: the uplink was restarted: %r" % p.stderr[-600:])
    t.check(took < 30, "full disk: took %.0f s" % took)
    t.check(not t.leftovers(inst), "full disk: left %s" % t.leftovers(inst))
    print("full disk: exit 74 in %.1f s, said once, no restart loop, nothing left" % took)

    # /dev/shm too small (a tmpfs of 1 MiB over it in a private mount
    # namespace): refused before any stage starts, saying what it needs.
    inst = "tso%de" % pid
    script = ("mount -t tmpfs -o size=1m none /dev/shm && exec %s --pcap %s --output %s --config %s --instance %s "
              "--quiet" % (t.SUPERVISOR, pcap, os.path.join(work, "shm1"), all_cfg, inst))
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    t.check(p.returncode == 69, "/dev/shm of 1 MiB: exit %d, not 69: %s" % (p.returncode, p.stderr[-400:]))
    m = re.search(r"shared memory: the tables and rings need (\d+) MiB but /dev/shm has \d+ MiB free", one_line(p.stderr))
    t.check(m, "/dev/shm of 1 MiB: %r" % p.stderr)
    need = int(m.group(1))
    # /dev/shm filled by someone else after that check passed, while the
    # stages start (the segments are reserved once they are started; the
    # fault hook delays the reservation 1.5 s, and the filler is written once
    # the last segment exists): the run stops with the reason, its stages
    # gone, nothing left.
    run_dir = "/tmp/tso.%d.e" % pid
    script = ("mount -t tmpfs -o size=%dm none /dev/shm || exit 99\n"
              "TAPSENSE_FAULT=reserve@1500 %s --pcap %s --output %s --config %s --instance %s --run-dir %s --quiet &\n"
              "n=0; until [ -e /dev/shm/tapsense.%s.cap-state ] || [ $n -ge 200 ]; do sleep 0.05; n=$((n+1)); done\n"
              "dd if=/dev/zero of=/dev/shm/filler bs=1M count=80 status=none || exit 98\n"
              "wait $!\n" % (need + 40, t.SUPERVISOR, pcap, os.path.join(work, "shm2"), slow, inst, run_dir, inst))
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    t.check(p.returncode == 69, "/dev/shm filled meanwhile: exit %d, not 69: %s" % (p.returncode, p.stderr[-400:]))
    line = one_line(p.stderr)
    t.check(re.search(r"shared memory: cannot reserve \d+ MiB for tapsense\.%s\.[\w.-]+: No space left on device; "
                      r"free /dev/shm" % inst, line), "/dev/shm filled meanwhile: %r" % line)
    t.check(not t.stage_pids(run_dir), "/dev/shm filled meanwhile: stages still run: %s" % t.stage_pids(run_dir))
    t.check(not t.leftovers(inst, run_dir), "/dev/shm filled meanwhile: left %s" % t.leftovers(inst, run_dir))
    print("/dev/shm: too small refused before start (69, needs %d MiB); filled after the check: exit 69 with "
          "the reason, no stage left" % need)

    # A file that ends before the reservation is over (the fault hook starts
    # it once every stage but the uplink has finished, when the supervisor
    # frees the segments no stage reads any more): the run completes, those
    # segments freed only once reserved.
    inst = "tso%df" % pid
    started = time.time()
    p = subprocess.run([t.SUPERVISOR, "--pcap", pcap, "--output", os.path.join(work, "shm3"), "--config", all_cfg,
                        "--instance", inst, "--quiet"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TAPSENSE_FAULT="reserve_late@1"))
    t.check(p.returncode == 0, "reservation after the file's end: exit %d: %s" % (p.returncode, p.stderr[-400:]))
    with open(os.path.join(work, "shm3", "assets.json")) as f:
        t.check(len(json.load(f)) == len(clean_assets), "reservation after the file's end: the assets differ")
    t.check(not t.leftovers(inst), "reservation after the file's end: left %s" % t.leftovers(inst))
    print("a file shorter than the reservation: complete in %.1f s, nothing left" % (time.time() - started))

    # Ctrl-C mid-run.
    inst = "tso%dd" % pid
    run_dir = "/tmp/tso.%d.d" % pid
    sup = start(pcap, os.path.join(work, "int"), slow, inst, run_dir, quiet=False)
    deadline = time.time() + 30
    read = 0
    while time.time() < deadline:
        s = t.sensor_stats(run_dir)
        if s and "capture" in s and s["capture"].get("rx.packets", 0) > packets // 4:
            read = s["capture"]["rx.packets"]
            break
        time.sleep(0.1)
    t.check(read > 0, "Ctrl-C: the run never got a quarter through")
    sup.send_signal(signal.SIGINT)
    _, err = sup.communicate(timeout=90)
    t.check(sup.returncode == 130, "Ctrl-C: exit %d, not 130" % sup.returncode)
    m = re.search(r"interrupted: analysed ([\d,]+) of ([\d,]+) packets", err)
    t.check(m, "Ctrl-C: no summary: %r" % err[-500:])
    analysed, total = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
    t.check(total == packets and read <= analysed < packets, "Ctrl-C: summary says %d of %d (read %d at the signal)" % (
        analysed, total, read))
    for f in ("assets.json", "flows.json", "traffic.json", "status.json"):
        t.check(os.path.exists(os.path.join(work, "int", f)), "Ctrl-C: %s not written" % f)
    t.check(not t.leftovers(inst, run_dir), "Ctrl-C: left %s" % t.leftovers(inst, run_dir))
    print("Ctrl-C: exit 130, summary %d of %d packets, outputs written" % (analysed, total))

    # 1 MiB report rings: batches cut to fit, nothing lost.
    small = os.path.join(work, "ring1.toml")
    with open(small, "w") as f:
        f.write(t.ALL_INTERNAL + "\n[aggregator]\nreport_ring_mb = 1\n[fingerprinter]\nreport_ring_mb = 1\n")
    started = time.time()
    assets, flows, _ = t.run_sensor(pcap, os.path.join(work, "ring1"), config=small, timeout=120)
    key = lambda a: (a["ip"], a["mac"], a["hostname"], a["bytes_in"], a["bytes_out"])
    t.check(sorted(map(key, assets), key=str) == sorted(map(key, clean_assets), key=str),
            "1 MiB report rings: the assets differ from the default run's")
    fkey = lambda x: (x["interval_start"], x["src_ip"], x["dst_ip"], x["dst_port"], x["protocol"],
                      x["bytes_src_to_dst"], x["bytes_dst_to_src"])
    t.check(sorted(map(fkey, flows), key=str) == sorted(map(fkey, clean_flows), key=str),
            "1 MiB report rings: the flows differ from the default run's")
    print("1 MiB report rings: complete in %.1f s, equal to the default run" % (time.time() - started))


t.main(run)

"""kill -9 the aggregator, the fingerprinter and the uplink (one at a time) in
the middle of a run: the run still exits 0, the supervisor restarted the
stage, and the assets and flows equal a clean run's (bytes within 0.1%)."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

COPIES = 12
RUN_SECONDS = 8.0


def build_capture(work):
    make = t.shared_pcap("bench/make-bench.py")
    t.need("tcprewrite")
    t.need("editcap")
    pcap = os.path.join(work, "bench.pcap")
    subprocess.run([t.PYTHON, make, pcap, "--copies", str(COPIES)], check=True, capture_output=True)
    n = int(subprocess.run(["capinfos", "-c", "-M", pcap], capture_output=True, text=True, check=True)
            .stdout.strip().split()[-1])
    return pcap, n


def stats(run_dir):
    p = subprocess.run([t.SUPERVISOR, "--stats", "--run-dir", run_dir], capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        return None
    stages = {}
    cur = None
    for line in p.stdout.split("\n"):
        if line and not line.startswith(" "):
            name = line.split(" ")[0]
            pid = int(line.split("pid ")[1].split(",")[0])
            cur = stages[name] = {"pid": pid}
        elif line.strip() and cur is not None:
            k, v = line.split()
            cur[k] = int(v)
    return stages


def canonical(out):
    with open(os.path.join(out, "assets.json")) as f:
        assets = json.load(f)
    with open(os.path.join(out, "flows.json")) as f:
        flows = json.load(f)
    a = {(x["ip"], x["mac"]): (x["hostname"], x["os"], x["vendor"], x["bytes_in"], x["bytes_out"])
         for x in assets}
    fl = {}
    for x in flows:
        k = (x["interval_start"], x["src_ip"], x["dst_ip"], x["dst_port"], x["protocol"])
        fl[k] = (x["packets"], x["bytes_src_to_dst"], x["bytes_dst_to_src"])
    return a, fl


def close(a, b):
    return abs(a - b) <= max(1, 0.001 * max(a, b))


def compare(what, clean, got):
    ca, cf = clean
    ga, gf = got
    t.check(set(ca) == set(ga), "%s: assets differ: missing %s, extra %s" % (
        what, sorted(set(ca) - set(ga), key=str)[:5], sorted(set(ga) - set(ca), key=str)[:5]))
    for k in ca:
        c, g = ca[k], ga[k]
        t.check(c[:3] == g[:3], "%s: asset %s identity %s != clean %s" % (what, k, g[:3], c[:3]))
        t.check(close(c[3], g[3]) and close(c[4], g[4]), "%s: asset %s bytes %s != clean %s" % (what, k, g[3:], c[3:]))
    t.check(set(cf) == set(gf), "%s: flow keys differ: missing %s, extra %s" % (
        what, sorted(set(cf) - set(gf), key=str)[:3], sorted(set(gf) - set(cf), key=str)[:3]))
    tot_c = sum(v[1] + v[2] for v in cf.values())
    tot_g = sum(v[1] + v[2] for v in gf.values())
    t.check(close(tot_c, tot_g), "%s: total flow bytes %d vs clean %d" % (what, tot_g, tot_c))
    bad = [k for k in cf if not (close(cf[k][1], gf[k][1]) and close(cf[k][2], gf[k][2]))]
    t.check(len(bad) <= max(1, len(cf) // 1000), "%s: %d flows differ in bytes, e.g. %s: %s vs %s" % (
        what, len(bad), bad[:1], [gf[k] for k in bad[:1]], [cf[k] for k in bad[:1]]))


def run():
    work = t.tmpdir()
    pcap, packets = build_capture(work)
    rate = int(packets / RUN_SECONDS)
    cfg = t.write_config(work, t.ALL_INTERNAL + "\n[capture]\noffline_rate = %d\n" % rate)
    clean_out = os.path.join(work, "clean")
    t.run_sensor(pcap, clean_out, config=cfg)
    clean = canonical(clean_out)
    print("clean run: %d packets, %d assets, %d flows" % (packets, len(clean[0]), len(clean[1])))

    for victim in ("aggregator.0", "fingerprinter.0", "uplink"):
        out = os.path.join(work, victim)
        run_dir = "/tmp/tsf.%d.%s" % (os.getpid(), victim.split(".")[0][:4])
        proc = subprocess.Popen([t.SUPERVISOR, "--pcap", pcap, "--output", out, "--config", cfg,
                                 "--run-dir", run_dir, "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed_at = None
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            s = stats(run_dir)
            if s and "capture" in s and victim in s:
                done = s["capture"].get("rx.packets", 0)
                if done > packets * 0.3:
                    t.check(done < packets, "%s: the run finished before the kill" % victim)
                    os.kill(s[victim]["pid"], signal.SIGKILL)
                    killed_at = done
                    break
            time.sleep(0.2)
        t.check(killed_at is not None, "%s: could not kill it mid-run" % victim)
        _, err = proc.communicate(timeout=120)
        t.check(proc.returncode == 0, "%s: run exited %d after the kill: %s" % (victim, proc.returncode, err))
        with open(os.path.join(out, "tapsense.log")) as f:
            log = f.read()
        t.check("%s was killed by signal 9" % victim in log, "%s: no restart in the log" % victim)
        compare(victim, clean, canonical(out))
        print("%s killed at packet %d of %d: restarted, outputs equal the clean run" % (victim, killed_at, packets))


t.main(run)

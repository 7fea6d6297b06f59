"""The start-up throughput measurement (auto-scaling).
- `--measure-throughput` under taskset on one core measures the built-in
  sample (build/sample/scaling.pcap) read 32 times: the extra packets it
  reports are 31 x what capinfos counts in the sample, and the rate is that
  many packets over the extra seconds it reports.
- A run with [supervisor] scaling = "on" measures before it starts, writes
  <state_dir>/scaling.json, sizes shards and workers from it (the effective
  configuration says so) and serves the estimate as
  tapsense_estimated_max_throughput_bits_per_second; a second run of the same
  boot and cores reuses the file instead of measuring again."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def run():
    t.need("taskset")
    sample = os.path.join(t.BUILD, "sample", "scaling.pcap")
    if not os.path.exists(sample):
        t.skip("build/sample/scaling.pcap was not built (needs python3-scapy at build time)")
    packets = int(subprocess.run(["capinfos", "-c", "-M", sample], capture_output=True, text=True, check=True)
                  .stdout.strip().split()[-1])
    wire = int(subprocess.run(["capinfos", "-d", "-M", sample], capture_output=True, text=True, check=True)
               .stdout.strip().split()[-2])
    r = subprocess.run(["taskset", "-c", "0", t.SUPERVISOR, "--measure-throughput"], capture_output=True, text=True,
                       timeout=300)
    t.check(r.returncode == 0, "--measure-throughput failed: %s" % r.stderr)
    m = re.search(r"shards (\d+) workers (\d+): ([\d.]+) Mbit/s, (\d+) packets/s \((\d+) packets in ([\d.]+) s\)",
                  r.stdout)
    t.check(m is not None, "unexpected output: %s" % r.stdout)
    t.check(r.stdout.startswith("cores 1\n"), "taskset -c 0 is one core: %s" % r.stdout)
    extra, secs = int(m.group(5)), float(m.group(6))
    t.check(extra == 31 * packets, "extra packets %d, expected 31 x %d" % (extra, packets))
    t.check(abs(int(m.group(4)) - extra / secs) <= 1 + extra / secs * 0.01, "packets/s inconsistent: %s" % r.stdout)
    t.check(abs(float(m.group(3)) - 31 * wire * 8 / secs / 1e6) < 0.1 + 0.01 * float(m.group(3)),
            "Mbit/s is not 31 x %d wire bytes over %.3f s: %s" % (wire, secs, r.stdout))

    work = t.tmpdir()
    state = os.path.join(work, "state")
    port = t.free_port()
    small = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), small], check=True,
                   capture_output=True)
    run_dir = "/tmp/tssc.%d" % os.getpid()
    cfg = t.write_config(work, """
[sensor]
name = "tssc%d"
state_dir = "%s"
run_dir = "%s"
cores = 2
[capture]
pcap = ["%s"]
offline_rate = 200
[supervisor]
scaling = "on"
metrics_listen = "127.0.0.1:%d"
""" % (os.getpid(), state, run_dir, small, port))
    results = []
    for attempt in range(2):
        t0 = time.time()
        proc = subprocess.Popen([t.SUPERVISOR, "--config", cfg, "--quiet"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        metric = None
        effective = ""
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and metric is None:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as resp:
                    text = resp.read().decode()
                mm = re.search(r"^tapsense_estimated_max_throughput_bits_per_second (\S+)$", text, re.M)
                if mm:
                    metric = float(mm.group(1))
                    with open(os.path.join(run_dir, "effective.toml")) as f:
                        effective = f.read()
            except OSError:
                pass
        started = time.time() - t0
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        t.check(metric is not None, "no estimated throughput metric")
        with open(os.path.join(state, "scaling.json")) as f:
            sj = json.load(f)
        results.append((started, os.path.getmtime(os.path.join(state, "scaling.json"))))
        t.check(sj["cores"] == 2 and sj["bits_per_second"] > 0, "scaling.json: %s" % sj)
        t.check(metric == sj["bits_per_second"], "metric %s, scaling.json %s" % (metric, sj["bits_per_second"]))
        shards = int(re.search(r"^\[aggregator\][^\[]*?^shards = (\d+)", effective, re.M | re.S).group(1))
        workers = int(re.search(r"^\[fingerprinter\][^\[]*?^workers = (\d+)", effective, re.M | re.S).group(1))
        t.check((shards, workers) == (sj["shards"], sj["workers"]),
                "effective shards/workers %s, measured best %s" % ((shards, workers), (sj["shards"], sj["workers"])))
    t.check(results[1][1] == results[0][1], "the second run measured again (scaling.json rewritten)")
    print("scaling: 1 core %s Mbit/s (%s packets/s); a run with scaling=on measured 2 cores at %.1f Mbit/s, "
          "sized %d shard(s) %d worker(s), reused it on the next start" %
          (m.group(3), m.group(4), sj["bits_per_second"] / 1e6, sj["shards"], sj["workers"]))


t.main(run)

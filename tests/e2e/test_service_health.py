"""The supervisor as a systemd service, and its health as Prometheus metrics.

A run on the sample capture (capture.pcap, paced by offline_rate, so the
sensor runs as it would live) under NOTIFY_SOCKET and WATCHDOG_USEC, the
test being systemd's side: an AF_UNIX datagram socket it reads.
- READY=1 comes once, and only when --stats shows every stage up;
- WATCHDOG=1 comes every half interval while stages answer, stops while a
  stage is frozen (SIGSTOP: it answers no heartbeat), and comes again once
  the supervisor has replaced it;
- STOPPING=1 on SIGTERM.
The metrics are scraped from [supervisor] metrics_listen during the run and
checked against --stats taken just before and just after each scrape
(a counter must lie between the two), and at the end against capinfos'
count of the capture. Restarts: tapsense_stage_restarts_total counts the
frozen stage's one restart. No label carries an address."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

RATE = 25  # packets/s: the 514-packet sample takes about 20 s
WATCHDOG_S = 2


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.split("\n"):
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return text, values


def run():
    work = t.tmpdir()
    pcap = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), pcap], check=True,
                   capture_output=True)
    packets = int(subprocess.run(["capinfos", "-c", "-M", pcap], capture_output=True, text=True, check=True)
                  .stdout.strip().split()[-1])
    port = t.free_port()
    run_dir = "/tmp/tss.%d" % os.getpid()
    out = os.path.join(work, "state")
    cfg = t.write_config(work, t.ALL_INTERNAL + """
[sensor]
name = "tss%d"
state_dir = "%s"
run_dir = "%s"
[capture]
pcap = ["%s"]
offline_rate = %d
[supervisor]
heartbeat_ms = 250
hang_timeout_ms = 4000
metrics_listen = "127.0.0.1:%d"
""" % (os.getpid(), out, run_dir, pcap, RATE, port))

    sock_path = os.path.join(work, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.1)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(WATCHDOG_S * 1000000))
    t0 = time.time()
    proc = subprocess.Popen([t.SUPERVISOR, "--config", cfg, "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    notes = []  # (time since start, message)

    def pump(seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                notes.append((time.time() - t0, sock.recv(4096).decode()))
            except socket.timeout:
                pass

    try:
        # READY=1: only once every stage is up.
        ready_at = None
        deadline = time.time() + 30
        while ready_at is None and time.time() < deadline and proc.poll() is None:
            pump(0.1)
            for at, m in notes:
                if "READY=1" in m:
                    ready_at = at
        t.check(ready_at is not None, "no READY=1 within 30 s: %s" % notes)
        stats = t.sensor_stats(run_dir)
        t.check(stats is not None and all(s["pid"] > 0 for s in stats.values()) and
                {"capture", "uplink", "aggregator.0", "fingerprinter.0"} <= set(stats),
                "READY=1 but --stats shows %s" % stats)
        # Every stage has sent its counters (a heartbeat), so each said hello before.
        silent = [n for n, c in stats.items() if len(c) <= 1]
        t.check(not silent, "READY=1 while %s had not reported yet" % silent)

        # Metrics during the run, bracketed by --stats.
        before = t.sensor_stats(run_dir)
        time.sleep(1.3)
        text, m = scrape(port)
        after = t.sensor_stats(run_dir)
        got = m.get("tapsense_captured_packets_total")
        lo, hi = before["capture"].get("rx.packets", 0), after["capture"].get("rx.packets", 0)
        t.check(got is not None and lo <= got <= hi,
                "tapsense_captured_packets_total %s outside --stats' %d..%d" % (got, lo, hi))
        t.check(hi > 0 and hi < packets, "the run is not in progress (%d of %d packets)" % (hi, packets))
        gotb = m.get("tapsense_captured_bytes_total")
        t.check(before["capture"].get("rx.wire_bytes", 0) <= gotb <= after["capture"].get("rx.wire_bytes", 0),
                "tapsense_captured_bytes_total %s outside --stats" % gotb)
        for name in ("tapsense_cpu_usage_ratio", "tapsense_memory_used_bytes", "tapsense_memory_total_bytes",
                     "tapsense_disk_used_bytes", "tapsense_disk_total_bytes", "tapsense_active_assets",
                     "tapsense_network_receive_bits_per_second", "tapsense_link_capacity_bits_per_second",
                     "tapsense_uptime_seconds", "tapsense_estimated_max_throughput_bits_per_second"):
            t.check(name in m, "%s missing from /metrics" % name)
        t.check(0 < m["tapsense_memory_used_bytes"] < m["tapsense_memory_total_bytes"], "memory metrics: %s" % m)
        st = os.statvfs(out)
        t.check(abs(m["tapsense_disk_total_bytes"] - st.f_blocks * st.f_frsize) < 1e6, "disk total differs from statvfs")
        # The rate (wire bits over the last second) is about what offline_rate paces.
        avg_bits = 8.0 * after["capture"]["rx.wire_bytes"] / max(1, after["capture"]["rx.packets"])
        bps = m["tapsense_network_receive_bits_per_second"]
        t.check(0.3 * RATE * avg_bits < bps < 3 * RATE * avg_bits,
                "network rate %.0f b/s, expected about %.0f" % (bps, RATE * avg_bits))
        rings = [k for k in m if k.startswith("tapsense_ring_fill_ratio{")]
        t.check(rings and all(0 <= m[k] <= 1 for k in rings), "ring fill: %s" % rings)
        t.check(m.get('tapsense_stage_up{stage="capture"}') == 1, "capture not up in /metrics")
        t.check(not re.search(r"\d+\.\d+\.\d+\.\d+|[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}", 
                              "\n".join(l for l in text.split("\n") if "{" in l and not l.startswith("#"))),
                "an address in a label")

        # Watchdog: steady while stages answer; stops while one is frozen.
        pump(3)
        dogs = [at for at, msg in notes if "WATCHDOG=1" in msg and at > ready_at]
        t.check(len(dogs) >= 2, "only %d WATCHDOG=1 in %.1f s" % (len(dogs), notes[-1][0] - ready_at if notes else 0))
        victim = t.sensor_stats(run_dir)["aggregator.0"]["pid"]
        frozen_at = time.time() - t0
        os.kill(victim, signal.SIGSTOP)
        pump(6)  # hang_timeout 4 s: the supervisor kills and restarts it
        try:
            os.kill(victim, signal.SIGCONT)
        except ProcessLookupError:
            pass
        pump(2)
        dogs = [at for at, msg in notes if "WATCHDOG=1" in msg]
        gap = max((b - a for a, b in zip(dogs, dogs[1:]) if b > frozen_at), default=0)
        t.check(gap >= WATCHDOG_S, "the watchdog was fed while a stage was frozen (largest gap %.1f s)" % gap)
        t.check(any(at > frozen_at + 4 for at in dogs), "the watchdog was not fed again after the restart: %s" % [(round(a, 1), m) for a, m in notes[-30:]])
        after_restart = t.sensor_stats(run_dir)
        t.check(after_restart["aggregator.0"]["pid"] != victim, "the frozen aggregator was not replaced")
        time.sleep(1.2)
        _, m = scrape(port)
        t.check(m.get('tapsense_stage_restarts_total{stage="aggregator.0"}') == 1,
                "restarts metric %s, --stats says 1" % m.get('tapsense_stage_restarts_total{stage="aggregator.0"}'))

        t.check(m["tapsense_captured_packets_total"] <= packets,
                "tapsense_captured_packets_total %s, more than the %d capinfos counts" %
                (m["tapsense_captured_packets_total"], packets))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        pump(0.3)
        t.check(any("STOPPING=1" in msg for _, msg in notes), "no STOPPING=1")
        t.check(sum("READY=1" in msg for _, msg in notes) == 1, "READY=1 sent more than once")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    print("service: READY after %.1f s with %d stages up; %d watchdog pings, none for %.1f s while a stage was frozen; "
          "metrics match --stats (%d packets)" % (ready_at, len(stats), len(dogs), gap, packets))


t.main(run)

"""Ctrl-C while the input is still being scanned. The supervisor scans a
capture file once (to check it and count it) while the stages already read
it; a large file takes a while (0.6 s a GB here). The test build's fault
switch TAPSENSE_FAULT=scan@MS makes each 65,536-packet step of the scan take
MS milliseconds more, so a file the project makes itself (400,000 packets,
a scan of at least 9 s) is still being scanned when the test interrupts it:
 - progress shows while the scan goes on ("scanning ... of at least N");
 - the interrupt takes effect at once: exit 130 within a few seconds, long
   before the scan could have ended (before, the supervisor waited for the
   whole scan);
 - the pipeline drains as after any interrupt: the outputs and the inventory
   hold what was read, and the summary counts it against what was scanned;
 - nothing is left behind (processes, shared memory, run directory)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

PACKETS = 400000   # six steps of the scan's progress (65,536 packets)
STEP_MS = 1500     # a step's extra time: the scan takes at least 9 s


def big_capture(work):
    """The sample office repeated (each copy 100 s later) to PACKETS packets."""
    header, records = t.sample_records(work)
    path = os.path.join(work, "big.pcap")
    with open(path, "wb") as f:
        f.write(header)
        written = t.write_repeated(f, records, PACKETS)
    return path, written


def run():
    work = t.tmpdir()
    pcap, packets = big_capture(work)
    out = os.path.join(work, "out")
    run_dir = os.path.join(work, "run")
    inst = "tsint%d" % os.getpid()
    env = dict(os.environ, TAPSENSE_FAULT="scan@%d" % STEP_MS)
    started = time.time()
    sup = subprocess.Popen([t.SUPERVISOR, "--pcap", pcap, "--output", out, "--instance", inst, "--run-dir", run_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(sup.stderr), daemon=True)
    reader.start()
    # Progress while scanning (not on a tty: a line 2 s in, then every 5 s).
    deadline = started + 8
    scanning = None
    while time.time() < deadline and sup.poll() is None:
        scanning = next((l for l in lines if "scanning" in l), None)
        if scanning:
            break
        time.sleep(0.05)
    t.check(scanning is not None, "no progress line while the file was scanned: %r" % lines)
    m = re.search(r"scanning\s+([\d,]+) of at least ([\d,]+) packets", scanning)
    t.check(m, "progress line while scanning: %r" % scanning)
    print("while scanning: %s" % scanning.strip())

    signalled = time.time()
    sup.send_signal(signal.SIGINT)
    try:
        sup.wait(timeout=60)
    except subprocess.TimeoutExpired:
        sup.kill()
        raise t.Failure("Ctrl-C during the scan: still running 60 s later")
    reader.join(timeout=5)
    took = time.time() - signalled
    err = "".join(lines)
    t.check(sup.returncode == 130, "Ctrl-C during the scan: exit %d, not 130: %r" % (sup.returncode, err[-800:]))
    # The scan alone would have run until started + 9 s at least.
    t.check(took < 5 and time.time() < started + PACKETS // 65536 * STEP_MS / 1000,
            "Ctrl-C during the scan took %.1f s to end the run (the scan was not stopped)" % took)
    m = re.search(r"interrupted: analysed ([\d,]+) of at least ([\d,]+) packets", err)
    t.check(m, "Ctrl-C during the scan: no summary of what was read: %r" % err[-800:])
    analysed, scanned = (int(x.replace(",", "")) for x in m.groups())
    t.check(0 < analysed <= scanned < packets,
            "summary says %d of at least %d packets (the file holds %d)" % (analysed, scanned, packets))
    for f in ("assets.json", "flows.json", "traffic.json", "status.json", "inventory.sqlite"):
        t.check(os.path.exists(os.path.join(out, f)), "Ctrl-C during the scan: %s not written" % f)
    with open(os.path.join(out, "assets.json")) as f:
        assets = json.load(f)
    assets = assets["assets"] if isinstance(assets, dict) else assets
    t.check(len(assets) > 0, "Ctrl-C during the scan: %d packets read, no asset in assets.json" % analysed)
    with open(os.path.join(out, "tapsense.log")) as f:
        log = f.read()
    t.check("scan stopped after" in log, "the log does not say the scan was stopped")
    t.check(not t.leftovers(inst, run_dir), "Ctrl-C during the scan: left %s" % t.leftovers(inst, run_dir))
    print("Ctrl-C %.1f s into the scan: exit 130 %.1f s later, %d of at least %d packets analysed, %d assets"
          % (signalled - started, took, analysed, scanned, len(assets)))


if __name__ == "__main__":
    t.main(run)

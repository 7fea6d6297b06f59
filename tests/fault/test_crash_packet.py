"""A packet that crashes a parser does not stop the sensor. With the test
build's fault switch (TAPSENSE_FAULT=stage@ordinal), the fingerprinter, then
the aggregator, abort on one packet of the project's own sample every time
they meet it. The run still completes (exit 0), the packet is quarantined
once (the fingerprinter keeps its bytes in quarantine/fingerprinter.0.pcap,
equal to the input's frame), and the outputs equal a clean run of the capture
without that packet, in what that stage makes: the identity facts for the
fingerprinter, the flows and byte counts for the aggregator. The rest equals
the full clean run. A stage that crashes at every start ends an offline run
with the outputs of what was analysed and exit 70 naming it. Nothing is left
in /dev/shm or /tmp after any of these runs."""
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def sensor(pcap, out, env_fault=None, expect_rc=0, config=None):
    env = dict(os.environ)
    env.pop("TAPSENSE_FAULT", None)
    if env_fault:
        env["TAPSENSE_FAULT"] = env_fault
    # Its own instance and run directory, so the leftover check below looks
    # at this test's runs only (other tests may run beside it).
    cmd = [t.SUPERVISOR, "--pcap", pcap, "--output", out, "--quiet", "--instance", INSTANCE, "--run-dir", RUN_DIR]
    if config:
        cmd += ["--config", config]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    t.check(p.returncode == expect_rc, "%s exited %d (expected %d): %s" % (" ".join(cmd), p.returncode, expect_rc,
                                                                           p.stderr.strip()[-800:]))
    return p


def load(out):
    with open(os.path.join(out, "assets.json")) as f:
        assets = json.load(f)
    with open(os.path.join(out, "flows.json")) as f:
        flows = json.load(f)
    return assets, flows


def facts(assets):
    """Per device: every (source, field, value) of its evidence."""
    return {(a["mac"], a["ip"]): sorted({(e["source"], e["field"], e["value"]) for e in a["evidence"]})
            for a in assets}


def traffic(assets, flows):
    per_asset = {(a["mac"], a["ip"]): (a["bytes_in"], a["bytes_out"], a["packets_in"], a["packets_out"])
                 for a in assets}
    per_flow = sorted((f["interval_start"], f["src_ip"], f["dst_ip"], f["dst_port"], f["protocol"], f["packets"],
                       f["bytes_src_to_dst"], f["bytes_dst_to_src"]) for f in flows)
    return per_asset, per_flow


def without(pcap, n, work):
    out = os.path.join(work, "without-%d.pcap" % n)
    subprocess.run(["editcap", pcap, out, str(n)], check=True, capture_output=True)
    return out


def frame_bytes(pcap, n):
    """The bytes of frame n as tshark dumps them (independent of libpcap's writer)."""
    dump = subprocess.run(["tshark", "-r", pcap, "-Y", "frame.number == %d" % n, "-x"], capture_output=True,
                          text=True, check=True).stdout
    out = bytearray()
    for line in dump.split("\n"):
        # "0000  ff ff ff ff ff ff 00 1b 21 3a 4c 5d 08 00 45 10   ................"
        if len(line) > 6 and line[4:6] == "  " and all(c in "0123456789abcdef" for c in line[:4]):
            out += bytes(int(h, 16) for h in line[6:6 + 47].split())
    return bytes(out)


INSTANCE = "tscp%d" % os.getpid()
RUN_DIR = "/tmp/tapsense.%s" % INSTANCE


def leftovers(before):
    shm = set(os.listdir("/dev/shm")) - before[0]
    runs = set(glob.glob(RUN_DIR)) - before[1]
    return sorted(x for x in shm if x.startswith("tapsense.%s." % INSTANCE)), sorted(runs)


def run():
    t.need("editcap")
    t.need("tshark")
    probe = subprocess.run([t.SUPERVISOR, "--help"], capture_output=True, text=True)
    t.check(probe.returncode == 0, "supervisor --help failed")
    work = t.tmpdir()
    pcap = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), pcap], check=True,
                   capture_output=True)
    before = (set(os.listdir("/dev/shm")), set(glob.glob(RUN_DIR)))

    full = os.path.join(work, "full")
    sensor(pcap, full)
    full_assets, full_flows = load(full)

    # The fingerprinter's victim: a DHCP request naming its host (option 12),
    # not the first frame of its MAC, so only that packet's facts go.
    rows = t.tshark_fields(pcap, "dhcp.option.hostname && dhcp.option.dhcp == 3", ["frame.number", "eth.src"])
    t.check(rows, "the sample has no DHCP request with a hostname")
    first_of = {}
    for num, mac in t.tshark_fields(pcap, "", ["frame.number", "eth.src"]):
        first_of.setdefault(mac, int(num))
    victim = next((int(n) for n, mac in rows if first_of[mac] != int(n)), None)
    t.check(victim is not None, "no DHCP request after its MAC's first frame")

    out = os.path.join(work, "fp-crash")
    sensor(pcap, out, "fingerprinter@%d" % victim)
    with open(os.path.join(out, "tapsense.log")) as f:
        log = f.read()
    t.check(log.count("fingerprinter.0 was killed by signal 6") == 2,
            "the fingerprinter should die twice on packet %d (once to suspect it, once to quarantine it)" % victim)
    t.check("quarantined packet %d " % victim in log, "no quarantine line for packet %d" % victim)
    q = os.path.join(out, "quarantine", "fingerprinter.0.pcap")
    t.check(os.path.exists(q), "no quarantine file %s" % q)
    kept = t.tshark_fields(q, "", ["frame.number"])
    t.check(len(kept) == 1, "quarantine holds %d packets, expected 1" % len(kept))
    t.check(frame_bytes(q, 1) == frame_bytes(pcap, victim), "the quarantined bytes are not frame %d's" % victim)
    crash_assets, crash_flows = load(out)
    less = os.path.join(work, "fp-less")
    sensor(without(pcap, victim, work), less)
    less_assets, less_flows = load(less)
    t.check(facts(less_assets) != facts(full_assets), "packet %d carries no fact of its own: a test that cannot fail"
            % victim)
    t.check(facts(crash_assets) == facts(less_assets),
            "facts after the crash differ from a run without packet %d" % victim)
    t.check(traffic(crash_assets, crash_flows) == traffic(full_assets, full_flows),
            "traffic after a fingerprinter crash differs from the clean run")
    with open(os.path.join(out, "events.jsonl")) as f:
        ev = [json.loads(x) for x in f]
    t.check(any(e["event"] == "Packet Quarantined" and e["module"] == "fingerprinter.0" for e in ev),
            "no Packet Quarantined event: %s" % ev)
    print("fingerprinter: packet %d crashed it twice, was quarantined (bytes equal the input's); facts equal a "
          "run without it, traffic equals the clean run" % victim)

    # The aggregator's victim: a pure ACK in the middle of a TCP connection
    # (no payload: not snapshotted, so the fingerprinter sees nothing of it).
    rows = t.tshark_fields(pcap, "tcp.len == 0 && tcp.flags == 0x010", ["frame.number"])
    t.check(len(rows) >= 3, "the sample has too few pure ACKs")
    victim = int(rows[len(rows) // 2][0])
    out = os.path.join(work, "agg-crash")
    sensor(pcap, out, "aggregator@%d" % victim)
    with open(os.path.join(out, "tapsense.log")) as f:
        log = f.read()
    t.check(log.count("aggregator.0 was killed by signal 6") == 2, "the aggregator should die twice")
    t.check("quarantined packet %d " % victim in log, "no quarantine line for packet %d" % victim)
    crash_assets, crash_flows = load(out)
    less = os.path.join(work, "agg-less")
    sensor(without(pcap, victim, work), less)
    less_assets, less_flows = load(less)
    t.check(traffic(less_assets, less_flows) != traffic(full_assets, full_flows), "packet %d changes no count" % victim)
    t.check(traffic(crash_assets, crash_flows) == traffic(less_assets, less_flows),
            "traffic after the aggregator crash differs from a run without packet %d" % victim)
    t.check(facts(crash_assets) == facts(full_assets), "facts after an aggregator crash differ from the clean run")
    print("aggregator: packet %d crashed it twice and was skipped; traffic equals a run without it, facts equal "
          "the clean run" % victim)

    # A crash loop offline: exit 70 naming the stage, outputs of what was analysed.
    cfg = t.write_config(work, "[supervisor]\nmax_restarts = 2\nrestart_window_s = 60\n")
    out = os.path.join(work, "loop")
    p = sensor(pcap, out, "fingerprinter@start", expect_rc=70, config=cfg)
    t.check("fingerprinter.0 keeps failing" in p.stderr, "the exit line does not name the stage: %s" % p.stderr)
    t.check(os.path.exists(os.path.join(out, "assets.json")), "no outputs after the crash loop")
    loop_assets, loop_flows = load(out)
    t.check(traffic(loop_assets, loop_flows) == traffic(full_assets, full_flows),
            "the aggregator's counts should be whole when only the fingerprinter fails")
    print("crash loop: exit 70, '%s', outputs hold the traffic" % p.stderr.strip().split("\n")[-1])

    shm, runs = leftovers(before)
    t.check(not shm and not runs, "left behind: /dev/shm %s, run directories %s" % (shm, runs))


t.main(run)

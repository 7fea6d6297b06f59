"""Live, the packet path never waits for the report path.

The sample office (120 copies, deploy/make-sample.py) is replayed over a veth
pair at 2,500 packets/s (about 25 s) into a live sensor with 1-second flow
reports, a 1 MiB report ring and a 1 MiB packet ring. Three seconds into the
replay the uplink is frozen (SIGSTOP) for 16 s; the supervisor's hang timeout
is raised so it is not restarted. Before this change the aggregator waited
for the full report ring, the packet ring behind it filled, and capture
dropped (a third of the assets lost in the issue's run).

Capture must drop nothing (drops.record_ring_full, drops.kernel), the
aggregator must have spooled reports while the uplink slept, and the
inventory and the bytes per address pair must equal an offline run of the
same file (the comparison test_live_capture makes)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from live_wire import Wire

COPIES = 120
PPS = 2500
STOP_AFTER_S = 3.0
STOP_FOR_S = 16.0

# After the interface keys: the rest of the configuration (TOML allows the
# [capture] table after its [[capture.interface]] array).
EXTRA = '''driver = "af_packet"
[capture]
packet_ring_mb = 1
[aggregator]
report_ring_mb = 1
flow_interval = "1s"
asset_interval = "1s"
asset_update_interval = "2s"
[supervisor]
hang_timeout_ms = 60000
'''


def canonical(assets):
    return sorted((a["mac"], a["ip"], a["hostname"], a["vendor"], a["os"], a["bytes_in"], a["bytes_out"],
                   a["packets_in"], a["packets_out"]) for a in assets)


def aggregator_counters(w):
    out = {}
    stage = None
    for line in w.stats().split("\n"):
        if line and not line.startswith(" "):
            stage = line.split(" ")[0]
        elif stage == "aggregator.0" and line.strip():
            k, v = line.split()
            out[k] = int(v)
    return out


def run():
    work = t.tmpdir()
    pcap, packets = t.sample_capture(work, COPIES)
    off_assets, off_flows, _ = t.run_sensor(pcap, os.path.join(work, "offline"))
    with Wire("r") as w:
        w.start(work, os.path.join(work, "live"), EXTRA)
        replay = w.replay_background(pcap, PPS)
        time.sleep(STOP_AFTER_S)
        uplink = int(w.stats().split("uplink ")[1].split("pid ")[1].split(",")[0])
        os.kill(uplink, signal.SIGSTOP)
        try:
            time.sleep(STOP_FOR_S)
            agg = aggregator_counters(w)
        finally:
            os.kill(uplink, signal.SIGCONT)
        sent = w.sent(replay)
        w.settled_stats()
        c = w.capture_counters()
        agg_end = aggregator_counters(w)
        live_assets, live_flows, log = w.stop()
    t.check(sent == packets, "tcpreplay sent %d of %d packets" % (sent, packets))
    t.check(c.get("rx.packets", 0) == packets, "capture saw %d of %d packets" % (c.get("rx.packets", 0), packets))
    drops = {k: v for k, v in c.items() if k.startswith("drops.") and v != 0}
    t.check(not drops, "capture dropped with the uplink stopped: %s" % drops)
    t.check(agg.get("spool.bytes", 0) > 0 or agg.get("spool.high_water", 0) > 0,
            "no report waited in the spool while the uplink was stopped: %s" % agg)
    lost = {k: v for k, v in agg_end.items()
            if k in ("drops.flow_packets", "drops.asset_packets", "out.waits") and v != 0}
    t.check(not lost, "the aggregator dropped or waited: %s" % lost)
    t.check("uplink missed heartbeats" not in log, "the supervisor restarted the stopped uplink")
    t.check(canonical(live_assets) == canonical(off_assets), "live inventory differs from the offline run: %s" % (
        sorted(set(canonical(off_assets)) ^ set(canonical(live_assets)))[:4]))
    lp, op = t.flow_pair_bytes(live_flows), t.flow_pair_bytes(off_flows)
    t.check(lp == op, "bytes per pair differ: %s" % {k: (lp.get(k), v) for k, v in op.items() if lp.get(k) != v})
    print("live: %d packets at %d/s, uplink stopped %.0f s: capture dropped nothing, %d bytes of reports spooled "
          "at most, %d assets and %d pairs equal the offline run" % (
              packets, PPS, STOP_FOR_S, agg_end.get("spool.high_water", 0), len(live_assets), len(op)))


t.main(run)

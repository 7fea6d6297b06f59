"""The packet path never waits for the report path.

On a capture the project makes itself (120 copies of the sample office,
about ten minutes of packet time), replayed at a fixed rate over about 12 s
with short reporting intervals (flows every 10 s, new assets every 5 s of
packet time), a 1 MiB report ring and a 1 MiB packet ring, the uplink is
frozen with SIGSTOP once capture has read a tenth of the file and thawed
only after capture has read all of it.

While the uplink is frozen:
 - capture reads the whole file (offline capture waits for room in the
   packet ring, so an aggregator that waited for the report ring would hold
   capture back: it would never get to the end while the uplink sleeps),
 - the aggregator applies every packet it is given and its report spool
   holds the reports the ring has no room for (spool.bytes > 0),
 - no aggregator emission waits (out.waits stays 0).
After SIGCONT the run exits 0, nothing was dropped or merged by name
(capture's drops.*, the aggregator's in.*.drops, drops.flow_packets,
drops.asset_packets, reports.intervals_merged are 0), assets.json and
flows.json EQUAL a run of the same configuration without the stop, and
nothing is left in /dev/shm or the run directory."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import backpressure
import tapsense_test as t


def progress(agg):
    return "aggregator applied %d packets, %d bytes of reports in the spool (%d cycles spooled)" % (
        agg.get("packets", 0), agg["spool.bytes"], agg.get("reports.spooled", 0))


def nothing_lost(agg):
    lost = {k: v for k, v in agg.items()
            if (k.startswith("in.") and k.endswith(".drops") or k in ("drops.flow_packets", "drops.asset_packets",
                                                                      "reports.intervals_merged",
                                                                      "reports.deferred")) and v != 0}
    t.check(not lost, "the aggregator dropped or merged: %s" % lost)


t.main(lambda: backpressure.run("aggregator.0", "tsbp", progress,
                                nothing_lost))

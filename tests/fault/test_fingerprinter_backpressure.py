"""The fingerprinter never waits for the report path either.

As tests/fault/test_report_backpressure.py, but with the squeeze on the
fingerprinter: 120 copies of the sample office (each copy its own addresses
and MACs, so its own facts), replayed over about 12 s, a 1 MiB fingerprinter
report ring, and the uplink frozen with SIGSTOP from a tenth of the file to
its end. Offline capture waits for room in the snapshot ring, so a
fingerprinter that waited for its report ring would hold capture back.

While the uplink is frozen: capture reads the whole file, the
fingerprinter's report spool holds what the ring has no room for
(spool.bytes > 0) and it never waited (out.waits 0). After SIGCONT the run
exits 0, capture dropped nothing, and assets.json and flows.json EQUAL a run
of the same configuration without the stop (hostnames, OS, vendors and device
types come from the fingerprinter's observations)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import backpressure
import tapsense_test as t


def progress(fp):
    return "fingerprinter read %d snapshots, %d bytes of observations in its spool (%d batches spooled)" % (
        fp.get("snapshots", 0), fp["spool.bytes"], fp.get("reports.spooled", 0))


t.main(lambda: backpressure.run("fingerprinter.0", "tsfb", progress))

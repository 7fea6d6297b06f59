"""One scan per input file: the supervisor reads the capture file once to
check and count it, and hands its result to capture (run_dir/scans.bin,
capture --scans), which then opens the file only to read the packets through
DPDK's net_pcap. Seen from outside with strace: the file is opened by path
exactly once (the supervisor's scan), capture opens scans.bin and its link to
the input, and the run analyses as many packets as capinfos counts."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def run():
    t.need("strace")
    t.need("capinfos")
    work = t.tmpdir()
    pcap, packets = t.sample_capture(work, 2)
    out = os.path.join(work, "out")
    trace = os.path.join(work, "openat")
    # -ff: one file per process (trace.PID), so no call is split across lines.
    cmd = ["strace", "-f", "-ff", "-qq", "-e", "trace=openat", "-o", trace,
           t.SUPERVISOR, "--pcap", pcap, "--output", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    t.check(p.returncode == 0, "supervisor under strace exited %d:\n%s" % (p.returncode, p.stderr))

    opens = []  # (pid, path) of successful opens
    for name in os.listdir(work):
        if not name.startswith("openat."):
            continue
        pid = int(name.split(".")[1])
        with open(os.path.join(work, name)) as f:
            for line in f:
                m = re.match(r'openat\([^,]+, "([^"]+)".*\)\s+=\s+(-?\d+)', line)
                if m and int(m.group(2)) >= 0:
                    opens.append((pid, m.group(1)))
    by_path = [pid for pid, path in opens if path == pcap]
    t.check(len(by_path) == 1, "%s opened %d times by path (pids %s); one scan expected" % (pcap, len(by_path), by_path))
    scan_readers = {pid for pid, path in opens if path.endswith("/scans.bin")}
    links = {pid for pid, path in opens if re.search(r"/input\d+\.pcap$", path)}
    t.check(len(links) == 1, "capture's link to the input opened by %s" % sorted(links))
    t.check(links <= scan_readers, "capture (pid %s) did not read the supervisor's scans.bin (read by %s)"
            % (sorted(links), sorted(scan_readers)))
    t.check(by_path[0] not in links, "the scan and the packet read happened in the same process")

    # The count the supervisor scanned is capinfos' count, and capture, which
    # stops after the handed-on count, delivered every packet of it.
    t.check("analysed {:,} packets".format(packets) in p.stderr,
            "stderr does not say 'analysed {:,} packets' (capinfos):\n{}".format(packets, p.stderr))
    progress = re.findall(r"([\d,]+) of ([\d,]+) packets", p.stderr)
    if progress:
        done, total = (int(x.replace(",", "")) for x in progress[-1])
        t.check(done == total == packets, "capture read %d of %d packets; capinfos counts %d" % (done, total, packets))


if __name__ == "__main__":
    t.main(run)

"""Records cut to the snapshot length count at their wire length.

The project's own sample office (deploy/make-sample.py), cut by editcap -s to
54 bytes a frame, as a classic pcap (read in chunks by capture's reader) and
as pcapng (read by libpcap), gives per pair of addresses the bytes tshark
counts (frame.len, the wire length): those of the whole sample. 54 bytes is
an Ethernet, IPv4 and TCP header: the sample's short frames (bare TCP
acknowledgements) are padded to Ethernet's 60, which only the record's wire
length tells (the decoder reads a longer frame's size from its IP header).
Both files in one run (the pcapng one an hour later) give twice that, so the
wire lengths follow each file's own records. net_pcap hands capture the captured length
only; the wire length is the one capture notes as each record is read
(capture/pcap_files.h)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

SNAP = 54


def run():
    t.need("tshark")
    t.need("editcap")
    work = t.tmpdir()
    sample, _ = t.sample_capture(work, 1)
    cut = os.path.join(work, "cut.pcap")
    cut_ng = os.path.join(work, "cut-later.pcapng")
    subprocess.run(["editcap", "-s", str(SNAP), sample, cut], check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", "-s", str(SNAP), "-t", "3600", sample, cut_ng], check=True,
                   capture_output=True)

    # The files are cut (tshark sees frames shorter than their wire length),
    # and tshark's wire lengths are the whole sample's.
    frames = t.tshark_fields(cut, "", ["frame.cap_len", "frame.len"])
    cut_frames = sum(1 for c, w in frames if int(c) < int(w))
    t.check(cut_frames > len(frames) // 4, "editcap cut %d of %d frames" % (cut_frames, len(frames)))
    truth = t.tshark_ip_pair_bytes(sample)
    t.check(truth, "tshark saw no IP traffic in the sample")
    t.check_pairs("tshark on the cut file", t.tshark_ip_pair_bytes(cut), truth)
    t.check_pairs("tshark on the cut pcapng", t.tshark_ip_pair_bytes(cut_ng), truth)

    for name, pcap in (("pcap", cut), ("pcapng", cut_ng)):
        cfg = t.write_config(work, t.ALL_INTERNAL)
        _, flows, _ = t.run_sensor(pcap, os.path.join(work, "out-" + name), config=cfg)
        t.check_pairs("cut " + name, t.flow_pair_bytes(flows), truth)
        print("cut %s: %d pairs, bytes at wire length" % (name, len(truth)))

    both = os.path.join(work, "both")
    os.makedirs(both)
    # (A state and a run directory of its own: the defaults are the
    # machine's sensor's.)
    run_dir = "/tmp/tscut.%d" % os.getpid()
    cfg = t.write_config(both, '[sensor]\nstate_dir = "%s"\nrun_dir = "%s"\n%s\n[capture]\npcap = ["%s", "%s"]\n' % (
        os.path.join(both, "state"), run_dir, t.ALL_INTERNAL, cut, cut_ng))
    try:
        p = subprocess.run([t.SUPERVISOR, "--config", cfg, "--output", os.path.join(both, "out"), "--quiet"],
                           capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["rm", "-rf", run_dir], check=False)
    t.check(p.returncode == 0, "two files: exit %d\n%s" % (p.returncode, p.stderr))
    with open(os.path.join(both, "out", "flows.json")) as f:
        flows = json.load(f)
    t.check_pairs("both files in one run", t.flow_pair_bytes(flows), {k: 2 * v for k, v in truth.items()})
    print("both files in one run: %d pairs, twice the bytes" % len(truth))


if __name__ == "__main__":
    t.main(run)

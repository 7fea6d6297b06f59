"""Bad input gets one clear line on stderr and a distinct exit code, never a
crash or a hang: missing, unreadable or non-capture files exit 1, bad usage
exits 2, a bad configuration exits 78 naming the line and column."""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def sup(*args, timeout=60):
    return subprocess.run([t.SUPERVISOR, *args], capture_output=True, text=True, timeout=timeout)


def one_line(p, what):
    lines = [l for l in p.stderr.split("\n") if l.strip()]
    t.check(len(lines) == 1, "%s: expected one line on stderr, got %r" % (what, p.stderr))
    t.check("tapsense" in lines[0], "%s: message does not say who speaks: %r" % (what, lines[0]))
    return lines[0]


def expect(args, rc, what, contains=None):
    p = sup(*args)
    t.check(p.returncode == rc, "%s: exit %d, expected %d (stderr %r)" % (what, p.returncode, rc, p.stderr))
    line = one_line(p, what)
    if contains:
        t.check(contains in line, "%s: %r does not mention %r" % (what, line, contains))
    print("%s: exit %d: %s" % (what, rc, line))


def late_corruption(work):
    """A file corrupt far into it: the stages begin on it while the
    supervisor still scans (capture reads only what the scan has passed),
    so the refusal comes after they started. It must still leave nothing:
    no process, no segment, no inventory and no output (the uplink, the
    stage that keeps anything, starts only after the verdict)."""
    header, records = t.sample_records(work)
    late = os.path.join(work, "late.pcap")
    with open(late, "wb") as f:
        f.write(header)
        # several of the scan's progress steps (65,536 packets)
        written = t.write_repeated(f, records, 300000)
        bad_at = f.tell()
        f.write(struct.pack("<IIII", 1700000000, 0, 0x7fffffff, 0x7fffffff) + b"\0" * 64)
        t.write_repeated(f, records[:10], 10)

    # A directory that was there keeps the log of the refusal, and nothing
    # the stages made of the file's first 300,000 packets.
    kept = os.path.join(work, "kept")
    os.mkdir(kept)
    proc = subprocess.Popen([t.SUPERVISOR, "--pcap", late, "--output", kept], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    t.check(proc.returncode == 1, "corrupt at byte %d: exit %d, expected 1 (%r)" % (bad_at, proc.returncode, err))
    lines = [l for l in err.split("\n") if l.strip()]
    t.check(len(lines) == 1 and "late.pcap" in lines[0] and ("at byte %d" % bad_at) in lines[0],
            "corrupt at byte %d: expected one line naming the file and the byte, got %r" % (bad_at, err))
    print("corrupt at byte %d of %d packets: exit 1: %s" % (bad_at, written, lines[0]))
    with open(os.path.join(kept, "tapsense.log")) as f:
        log = [l for l in f.read().split("\n") if "[supervisor:%d/" % proc.pid in l]
    started = [l.split("started ")[1].split(" ")[0] for l in log if " started " in l]
    t.check("capture" in started and "aggregator.0" in started,
            "the stages were to begin while the file was scanned; the log says they started: %s" % started)
    t.check("uplink" not in started, "the uplink started on a file that was then refused")
    said = lines[0].split(": ", 1)[1]
    t.check(any(said in l and " error " in l for l in log), "the log kept does not say why the file was refused")
    t.check(sorted(os.listdir(kept)) == ["tapsense.log"],
            "a refused file left more than the log of its refusal: %s" % sorted(os.listdir(kept)))
    instance = "ts%d" % proc.pid
    left = sorted(n for n in os.listdir("/dev/shm") if instance in n)
    t.check(not left, "a late refusal left shared memory segments: %s" % left)
    ps = subprocess.run(["pgrep", "-f", r"tapsense-[a-z]+ .*tapsense\.%d/" % proc.pid], capture_output=True,
                        text=True)
    t.check(ps.stdout.strip() == "", "a stage outlived the late refusal: %s" % ps.stdout.strip())
    # The same file into a new directory: none is left behind.
    fresh = os.path.join(work, "fresh")
    p = sup("--pcap", late, "--output", fresh, timeout=120)
    t.check(p.returncode == 1 and not os.path.exists(fresh),
            "late refusal into a new directory: exit %d, directory left: %s" % (p.returncode, os.path.exists(fresh)))


def run():
    work = t.tmpdir()
    out = os.path.join(work, "out")
    text = os.path.join(work, "notes.txt")
    with open(text, "w") as f:
        f.write("this is not a capture\n" * 20)
    empty = os.path.join(work, "empty.pcap")
    open(empty, "w").close()
    garbage = os.path.join(work, "garbage.pcap")
    with open(garbage, "wb") as f:
        f.write(bytes(range(256)) * 8)

    expect(["--pcap", os.path.join(work, "nope.pcap"), "--output", out], 1, "missing file", "nope.pcap")
    expect(["--pcap", work, "--output", out], 1, "directory as capture")
    expect(["--pcap", text, "--output", out], 1, "text file", "notes.txt")
    expect(["--pcap", empty, "--output", out], 1, "empty file")
    expect(["--pcap", garbage, "--output", out], 1, "random bytes")
    # Capture starts while the supervisor scans the file (it waits for the
    # scan's verdict): a refused file must still leave nothing behind, no
    # output directory, no shared memory, no capture process. (The run's
    # instance is "ts" and the supervisor's pid: its segments carry it.)
    p = subprocess.Popen([t.SUPERVISOR, "--pcap", garbage, "--output", out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _, err = p.communicate(timeout=60)
    t.check(p.returncode == 1, "random bytes again: exit %d (%r)" % (p.returncode, err))
    instance = "ts%d" % p.pid
    t.check(not os.path.exists(out), "a refused file left the output directory %s: %s"
            % (out, os.listdir(out) if os.path.isdir(out) else "?"))
    left = sorted(n for n in os.listdir("/dev/shm") if instance in n)
    t.check(not left, "a refused file left shared memory segments: %s" % left)
    # (its run directory, in its arguments, is named after the supervisor's pid)
    ps = subprocess.run(["pgrep", "-f", r"tapsense-capture .*tapsense\.%d/" % p.pid], capture_output=True, text=True)
    t.check(ps.stdout.strip() == "", "a capture process outlived the refusal: %s" % ps.stdout.strip())
    late_corruption(work)
    if os.geteuid() != 0:
        locked = os.path.join(work, "locked.pcap")
        with open(locked, "wb") as f:
            f.write(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
        os.chmod(locked, 0)
        expect(["--pcap", locked, "--output", out], 1, "unreadable file")

    expect([], 2, "no arguments")
    expect(["--frobnicate"], 2, "unknown option")
    expect(["--pcap", text], 2, "--pcap without --output")

    bad = os.path.join(work, "bad.toml")
    with open(bad, "w") as f:
        f.write("[sensor]\nname = \"x\"\n[capture]\nsnaplen = \"large\"\n")
    expect(["--pcap", text, "--output", out, "--config", bad], 78, "bad config value", "bad.toml:4:")
    with open(bad, "w") as f:
        f.write("[aggregator\nshards = 1\n")
    expect(["--pcap", text, "--output", out, "--config", bad], 78, "config syntax", "bad.toml:1:")
    with open(bad, "w") as f:
        f.write("[[internal]]\nname = \"lab\"\nranges = [\"10.0.0.0/33\"]\n")
    expect(["--pcap", text, "--output", out, "--config", bad], 78, "bad range", "bad.toml:3:")
    expect(["--pcap", text, "--output", out, "--config", os.path.join(work, "none.toml")], 78,
           "missing config")


t.main(run)

"""The Debian package on a clean system: `cpack -G DEB`, then a fresh Debian
12 root made by mmdebstrap (Debian's archive only) where apt installs the
.deb with the dependencies it declares. Checked there: the files in their
FHS places, the service user, `systemd-analyze verify` of the unit, and the
installed sensor analysing the sample capture (so every shared library and
data file it needs came with the package or its dependencies), its assets
matching the sample's documented truth (the .truth.json make-sample.py writes)."""
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t


def run():
    if os.geteuid() != 0:
        t.skip("mmdebstrap into a directory needs root")
    t.need("mmdebstrap")
    t.need("cpack")
    r = subprocess.run(["cpack", "-G", "DEB"], cwd=t.BUILD, capture_output=True, text=True)
    t.check(r.returncode == 0, "cpack failed: %s" % (r.stdout[-2000:] + r.stderr[-2000:]))
    debs = sorted(glob.glob(os.path.join(t.BUILD, "tapsense_*_amd64.deb")), key=os.path.getmtime)
    t.check(debs, "cpack made no .deb")
    deb = debs[-1]
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(t.SOURCE, "deploy", "make-sample.py"), sample], check=True,
                   capture_output=True)
    with open(sample[:-5] + ".truth.json") as f:
        truth = json.load(f)
    root = os.path.join(work, "root")
    checks = r'''
set -e
test -x /usr/bin/tapsense-supervisor
for s in capture aggregator fingerprinter uplink; do test -x /usr/bin/tapsense-$s; done
test -f /usr/lib/systemd/system/tapsense.service
test -f /etc/tapsense/tapsense.toml
test -f /usr/share/tapsense/rules/devices.toml
test -x /usr/share/tapsense/nic-check.py
getent passwd tapsense
grep -q '^/etc/tapsense/tapsense.toml$' /var/lib/dpkg/info/tapsense.conffiles
systemctl is-enabled tapsense.service
systemd-analyze verify /usr/lib/systemd/system/tapsense.service
ldd /usr/bin/tapsense-* | grep 'not found' && exit 9
/usr/bin/tapsense-supervisor --pcap /tmp/sample.pcap --output /tmp/out --quiet
'''
    with open(os.path.join(work, "checks.sh"), "w") as f:
        f.write(checks)
    cmd = ["mmdebstrap", "--variant=apt", "--mode=root", "--skip=cleanup/apt/lists",
           "--customize-hook=copy-in %s %s %s /tmp" % (deb, sample, os.path.join(work, "checks.sh")),
           "--customize-hook=chroot \"$1\" apt-get install -y --no-install-recommends /tmp/%s" % os.path.basename(deb),
           "--customize-hook=chroot \"$1\" sh -x /tmp/checks.sh",
           "--customize-hook=copy-out /tmp/out %s" % work,
           "bookworm", root, "http://deb.debian.org/debian", "http://deb.debian.org/debian-security bookworm-security main"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
        t.check(r.returncode == 0, "install or checks in the clean root failed:\n%s" % (r.stderr[-4000:]))
        with open(os.path.join(work, "out", "assets.json")) as f:
            assets = json.load(f)
        macs = {a["mac"].lower() for a in assets}
        want = {d["mac"].lower() for d in truth["devices"] if d.get("mac")}
        missing = want - macs
        t.check(not missing, "the installed sensor missed the sample's devices %s" % sorted(missing))
        print("package: %s installs on a fresh Debian 12 root (%d dependencies pulled by apt), the unit verifies, "
              "and the installed sensor finds all %d devices of the sample" %
              (os.path.basename(deb), r.stderr.count("Setting up "), len(want)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


t.main(run)

"""deploy/ tools for NICs: hugepages reserved by deploy/hugepages.sh are
used by capture (EAL without --no-huge) with outputs equal to a run
without them; deploy/nic-check.py classifies every PCI network device
against the installed DPDK's PMDs (checked with dpdk-pmdinfo.py) and never
offers the management interface; deploy/nic-bind.sh refuses it."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t

DEPLOY = os.path.join(t.SOURCE, "deploy")


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def run():
    if os.geteuid() != 0:
        t.skip("hugepages and NIC binding need root")
    work = t.tmpdir()
    sample = os.path.join(work, "sample.pcap")
    subprocess.run([t.PYTHON, os.path.join(DEPLOY, "make-sample.py"), sample], check=True, capture_output=True)
    ref_assets, ref_flows, _ = t.run_sensor(sample, os.path.join(work, "nohuge"))

    # Hugepages: reserve, run, release.
    before = meminfo("HugePages_Total")
    r = subprocess.run([os.path.join(DEPLOY, "hugepages.sh"), "600"], capture_output=True, text=True)
    if r.returncode != 0:
        print("hugepages could not be reserved here (%s); skipping that part" % r.stderr.strip())
    else:
        try:
            t.check(meminfo("HugePages_Free") >= 256, "hugepages.sh reserved too few pages")
            assets, flows, _ = t.run_sensor(sample, os.path.join(work, "huge"))
            log = open(os.path.join(work, "huge", "tapsense.log")).read()
            t.check("EAL memory: hugepages" in log, "capture did not use the hugepages")
            t.check(assets == ref_assets, "outputs with hugepages differ from --no-huge")
            t.check(t.flow_pair_bytes(flows) == t.flow_pair_bytes(ref_flows), "flows with hugepages differ")
            # DPDK keeps <prefix>map_* files after exit unless told to unlink
            # them; left there, they hold pages hugepages.sh --clear cannot free.
            left = [n for n in os.listdir("/dev/hugepages") if n.startswith("tapsense")] \
                if os.path.isdir("/dev/hugepages") else []
            t.check(not left, "capture left hugepage files: %s" % left[:5])
            print("hugepages: capture ran on %d reserved 2 MB pages; outputs equal the --no-huge run" %
                  meminfo("HugePages_Total"))
        finally:
            subprocess.run([os.path.join(DEPLOY, "hugepages.sh"), "--clear"], capture_output=True)
        t.check(meminfo("HugePages_Total") <= before, "hugepages.sh --clear left pages reserved")

    # NIC check: every PCI network device classified, the management one protected.
    r = subprocess.run([os.path.join(DEPLOY, "nic-check.py"), "--json"], capture_output=True, text=True)
    t.check(r.returncode in (0, 3), "nic-check exited %d: %s" % (r.returncode, r.stderr))
    rows = json.loads(r.stdout)
    routed = subprocess.run(["ip", "-o", "route"], capture_output=True, text=True).stdout
    for row in rows:
        t.check(row["status"] in ("ready", "driver change required", "management", "unsupported"), row)
        if any(("dev %s " % i) in routed + " " for i in row["interfaces"]):
            t.check(row["status"] == "management", "routed NIC %s offered for sniffing" % row["address"])
            b = subprocess.run([os.path.join(DEPLOY, "nic-bind.sh"), row["address"]], capture_output=True, text=True)
            t.check(b.returncode != 0 and "management" in b.stderr, "nic-bind took the management NIC")
        # Independent check of the PMD verdict: dpdk-pmdinfo.py on the PMD it names.
        if row["pmd"]:
            lib = "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_%s.so" % row["pmd"].replace("net_", "net_", 1)
            if os.path.exists(lib):
                info = json.loads(subprocess.run(["/usr/bin/python3", "/usr/bin/dpdk-pmdinfo.py", lib],
                                                 capture_output=True, text=True).stdout)
                ids = {(p["vendor"], p["device"]) for m in info for p in m.get("pci_ids", [])}
                t.check((row["vendor"], row["device"]) in ids, "%s: %s does not list %s:%s" % (
                    row["address"], row["pmd"], row["vendor"], row["device"]))
    print("nic-check: %d PCI network device(s): %s" % (len(rows), ", ".join(
        "%s %s" % (r["address"], r["status"]) for r in rows)))


t.main(run)

#!/usr/bin/python3
"""Which network cards can tapsense sniff with DPDK, and what do they need?

For every PCI network device: its vendor:device id, current driver, kernel
interface, and whether the installed DPDK (its PMDs, read with
dpdk-pmdinfo.py) drives it. Status:
  ready                    bound to vfio-pci (or another DPDK-capable kmod)
  driver change required   DPDK drives it, but it is bound to a kernel driver:
                           run deploy/nic-bind.sh ADDRESS (the guide's
                           "Driver Change Required" event)
  management               the active interface of this machine (has a
                           route): never taken for sniffing
  unsupported              no PMD of this DPDK drives it: sniff it through
                           net_af_packet (driver = "af_packet") instead

usage: deploy/nic-check.py [--json] [ADDRESS...]
exit: 0 all listed devices ready or usable through af_packet, 3 some need a
driver change, 2 bad usage.
"""
import glob
import json
import os
import subprocess
import sys

PMD_DIRS = glob.glob("/usr/lib/*/dpdk/pmds-*")
DPDK_KMODS = {"vfio-pci", "igb_uio", "uio_pci_generic"}


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def supported_ids():
    """(vendor, device) -> PMD name, from the installed PMD libraries."""
    ids = {}
    tool = "/usr/bin/dpdk-pmdinfo.py"
    for d in PMD_DIRS:
        for lib in sorted(glob.glob(os.path.join(d, "librte_net_*.so"))):
            try:
                # Debian's interpreter: dpdk-pmdinfo.py needs its python3-pyelftools.
                out = subprocess.run(["/usr/bin/python3", tool, lib], capture_output=True, text=True, timeout=30).stdout
                for pmd in json.loads(out or "[]"):
                    for pid in pmd.get("pci_ids", []):
                        ids[(pid["vendor"].lower(), pid["device"].lower())] = pmd["name"]
            except (OSError, ValueError, subprocess.TimeoutExpired):
                continue
    return ids


def routed_interfaces():
    out = subprocess.run(["ip", "-o", "route", "show"], capture_output=True, text=True).stdout
    return {w[w.index("dev") + 1] for w in (line.split() for line in out.split("\n")) if "dev" in w}


def devices():
    for path in sorted(glob.glob("/sys/bus/pci/devices/*")):
        if not read(os.path.join(path, "class")).startswith("0x02"):
            continue  # network controllers only
        addr = os.path.basename(path)
        driver = os.path.basename(os.readlink(os.path.join(path, "driver"))) if os.path.exists(
            os.path.join(path, "driver")) else ""
        # The interface may sit under a child device (virtio0/net/eth0).
        ifaces = sorted({os.path.basename(n) for n in glob.glob(os.path.join(path, "net", "*")) +
                         glob.glob(os.path.join(path, "*", "net", "*"))})
        yield {"address": addr, "vendor": read(os.path.join(path, "vendor"))[2:],
               "device": read(os.path.join(path, "device"))[2:], "driver": driver, "interfaces": ifaces}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    as_json = "--json" in sys.argv
    if any(a.startswith("--") and a != "--json" for a in sys.argv[1:]):
        print(__doc__.strip().split("\n\n")[-2], file=sys.stderr)
        return 2
    ids = supported_ids()
    routed = routed_interfaces()
    rows = []
    for d in devices():
        if args and d["address"] not in args and not set(d["interfaces"]) & set(args):
            continue
        pmd = ids.get((d["vendor"], d["device"]))
        if set(d["interfaces"]) & routed:
            status = "management"
        elif pmd is None:
            status = "unsupported"
        elif d["driver"] in DPDK_KMODS:
            status = "ready"
        else:
            status = "driver change required"
        rows.append(dict(d, pmd=pmd, status=status))
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        if not rows:
            print("nic-check: no PCI network devices%s" % (" match %s" % " ".join(args) if args else ""))
        for r in rows:
            print("%s  %s:%s  driver=%-12s if=%-10s pmd=%-14s %s" % (
                r["address"], r["vendor"], r["device"], r["driver"] or "-", ",".join(r["interfaces"]) or "-",
                r["pmd"] or "-", r["status"]))
            if r["status"] == "driver change required":
                print("    -> deploy/nic-bind.sh %s   (then driver = \"pci\", name = \"%s\")" % (r["address"], r["address"]))
            elif r["status"] == "unsupported":
                print("    -> not driven by DPDK %s; sniff it with driver = \"af_packet\"" % (
                    os.path.basename(PMD_DIRS[0]) if PMD_DIRS else ""))
    return 3 if any(r["status"] == "driver change required" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

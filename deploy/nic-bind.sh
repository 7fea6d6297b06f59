#!/usr/bin/env bash
# Binds a NIC to vfio-pci so tapsense-capture can drive it with DPDK
# (driver = "pci" in the configuration). Refuses the active management
# interface. Without an IOMMU, vfio's no-IOMMU mode is enabled (the NIC is
# then trusted like a kernel driver would be).
#   deploy/nic-bind.sh ADDRESS          e.g. 0000:03:00.0
#   deploy/nic-bind.sh --unbind ADDRESS DRIVER   give it back to a kernel driver
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "nic-bind: needs root" >&2; exit 1; }
command -v dpdk-devbind.py >/dev/null || { echo "nic-bind: dpdk-devbind.py missing (deploy/install-deps.sh)" >&2; exit 69; }
if [ "${1:-}" = "--unbind" ]; then
  [ $# -eq 3 ] || { echo "usage: nic-bind.sh --unbind ADDRESS DRIVER" >&2; exit 2; }
  exec dpdk-devbind.py -b "$3" "$2"
fi
[ $# -eq 1 ] || { echo "usage: nic-bind.sh ADDRESS | --unbind ADDRESS DRIVER" >&2; exit 2; }
addr=$1
# nic-check exits 3 when a driver change is needed: that is why we are here.
status=$({ /usr/bin/python3 "$here/nic-check.py" --json "$addr" || true; } |
         /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["status"] if r else "missing")')
case "$status" in
  missing) echo "nic-bind: no PCI network device $addr" >&2; exit 1 ;;
  management) echo "nic-bind: $addr carries this machine's routes (management interface); not taking it" >&2; exit 1 ;;
  unsupported) echo "nic-bind: DPDK cannot drive $addr; sniff it with driver = \"af_packet\"" >&2; exit 1 ;;
  ready) echo "nic-bind: $addr is already bound for DPDK"; exit 0 ;;
esac
modprobe vfio-pci
if [ ! -d /sys/kernel/iommu_groups ] || [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
  echo "nic-bind: no IOMMU; enabling vfio no-IOMMU mode" >&2
  echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode
fi
dpdk-devbind.py -b vfio-pci "$addr"
echo "nic-bind: $addr bound to vfio-pci; configure it with driver = \"pci\", name = \"$addr\""

#!/usr/bin/env bash
# Reserves hugepages for DPDK (capture runs with --no-huge without them, which
# is fine for files and af_packet; NICs at line rate want them).
#   deploy/hugepages.sh [MEGABYTES]   reserve (default 1024) 2 MB pages and mount hugetlbfs
#   deploy/hugepages.sh --clear       release them
#   deploy/hugepages.sh --show
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "hugepages: needs root" >&2; exit 1; }
command -v dpdk-hugepages.py >/dev/null || { echo "hugepages: dpdk-hugepages.py missing (deploy/install-deps.sh)" >&2; exit 69; }
case "${1:-1024}" in
  --clear) dpdk-hugepages.py --clear; dpdk-hugepages.py --unmount 2>/dev/null || true; exit 0 ;;
  --show) dpdk-hugepages.py --show; exit 0 ;;
  *[!0-9]*) echo "usage: hugepages.sh [MEGABYTES] | --clear | --show" >&2; exit 2 ;;
esac
mb=${1:-1024}
# Some systems (containers) have no /dev/hugepages to mount on.
mkdir -p /dev/hugepages
dpdk-hugepages.py --pagesize 2M --reserve "${mb}M"
if ! grep -q " hugetlbfs " /proc/mounts; then
  mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages || {
    echo "hugepages: cannot mount hugetlbfs on /dev/hugepages" >&2; exit 1; }
fi
have=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
if [ "$have" -lt $((mb / 2)) ]; then
  echo "hugepages: only $have 2 MB pages could be reserved (asked $((mb / 2))); memory is fragmented" >&2
  exit 1
fi
dpdk-hugepages.py --show

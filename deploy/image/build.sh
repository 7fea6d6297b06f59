#!/usr/bin/env bash
# Builds the tapsense virtual appliance: a bootable Debian 12 disk made with
# mmdebstrap (Debian's archive only), tapsense installed from its .deb, the
# supervisor enabled as the service, the appliance console on tty1, two NICs:
# the first (eth0) management (DHCP until the console sets it), the second
# (eth1) sniffing (no address, af_packet). Needs root (mmdebstrap into a
# directory), mke2fs, qemu-img; no loop devices, no mounts.
#
#   deploy/image/build.sh [--deb FILE] [--out DIR] [--size 4G] [--mirror URL]
#                         [--debug-root-password PW]
#
# Outputs in --out (default build/image):
#   tapsense.raw     the disk (MBR, one ext4 partition, GRUB for BIOS)
#   tapsense.qcow2   QEMU/KVM, Proxmox
#   tapsense.vmdk, tapsense.ovf, tapsense.ova   ESXi (stream-optimised VMDK + OVF, packed)
#   tapsense.vhdx    Hyper-V (generation 1: BIOS)
# --debug-root-password sets a root password and a login on the serial port
# (ttyS0): for the boot test only; the default image has no password and no
# login but the console.
# Exit codes: 0 built, 2 usage, 69 a tool is missing, 1 a step failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
deb="" out="$repo/build/image" size=4G mirror="http://deb.debian.org/debian" rootpw=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) deb=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --debug-root-password) rootpw=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in mmdebstrap mke2fs qemu-img python3 tar; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (deploy/install-deps.sh)" >&2; exit 69; }
done
if [ "$(id -u)" -ne 0 ]; then echo "build.sh: needs root (mmdebstrap into a directory)" >&2; exit 69; fi
if [ -z "$deb" ]; then
  deb=$(ls -t "$repo"/build/tapsense_*_amd64.deb 2>/dev/null | head -1 || true)
  [ -n "$deb" ] || { echo "build.sh: no .deb: run 'cpack -G DEB' in build/ or give --deb FILE" >&2; exit 2; }
fi
[ -f "$deb" ] || { echo "build.sh: $deb: no such file" >&2; exit 2; }

mkdir -p "$out"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
uuid=$(cat /proc/sys/kernel/random/uuid)

# Files the hooks copy in (written here, so the hooks stay one line each).
files="$work/files"
mkdir -p "$files"
cat >"$files/fstab" <<EOF
UUID=$uuid / ext4 errors=remount-ro 0 1
EOF
cat >"$files/grub.cfg" <<EOF
set timeout=1
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "tapsense appliance" {
  linux /vmlinuz root=UUID=$uuid ro net.ifnames=0 console=tty0 console=ttyS0,115200
  initrd /initrd.img
}
EOF
cat >"$files/10-tapsense-management.network" <<'EOF'
# The management interface: DHCP until "Set up Network" on the console says otherwise.
[Match]
Name=eth0

[Network]
DHCP=ipv4
EOF
cat >"$files/20-tapsense-sniffing.network" <<'EOF'
# The sniffing interface: up, no address, no traffic of its own.
[Match]
Name=eth1

[Link]
ActivationPolicy=always-up
RequiredForOnline=no

[Network]
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
# GRO/LRO merge TCP segments before af_packet sees them: the sensor would count
# (and parse) fewer, larger packets than the wire carried. Off on the sniffing NIC.
cat >"$files/20-tapsense-sniffing.link" <<'EOF'
[Match]
OriginalName=eth1

[Link]
NamePolicy=kernel
GenericReceiveOffload=false
LargeReceiveOffload=false
GenericSegmentationOffload=false
TCPSegmentationOffload=false
EOF
cat >"$files/tapsense.toml" <<'EOF'
# /etc/tapsense/tapsense.toml on the appliance (README.md "Configuration").
# eth0 is management, eth1 sniffs (the image names NICs in PCI order).
[sensor]
name = "tapsense"
state_dir = "/var/lib/tapsense"
run_dir = "/run/tapsense"

[[capture.interface]]
name = "eth1"
driver = "af_packet"

[uplink]
proxy = ""
proxy_auth = "none"
proxy_user = ""
proxy_password = ""

[supervisor]
metrics_listen = "127.0.0.1:9640"
EOF
echo tapsense >"$files/hostname"

hooks=(
  "--customize-hook=copy-in $deb /tmp"
  "--customize-hook=chroot \"\$1\" apt-get install -y --no-install-recommends /tmp/$(basename "$deb")"
  "--customize-hook=rm -f \"\$1\"/tmp/$(basename "$deb")"
  # systemd-resolved last: it points resolv.conf at its stub, which does not run in the chroot.
  "--customize-hook=chroot \"\$1\" apt-get install -y --no-install-recommends systemd-resolved"
  "--customize-hook=copy-in $files/fstab $files/hostname /etc"
  "--customize-hook=copy-in $files/tapsense.toml /etc/tapsense"
  "--customize-hook=chmod 0640 \"\$1\"/etc/tapsense/tapsense.toml"
  "--customize-hook=chroot \"\$1\" chgrp tapsense /etc/tapsense/tapsense.toml"
  "--customize-hook=mkdir -p \"\$1\"/etc/systemd/network \"\$1\"/boot/grub"
  "--customize-hook=copy-in $files/10-tapsense-management.network $files/20-tapsense-sniffing.network /etc/systemd/network"
  "--customize-hook=copy-in $files/20-tapsense-sniffing.link /etc/systemd/network"
  "--customize-hook=copy-in $files/grub.cfg /boot/grub"
  "--customize-hook=chroot \"\$1\" systemctl enable systemd-networkd systemd-resolved tapsense.service tapsense-console.service"
  "--customize-hook=chroot \"\$1\" systemctl mask getty@tty1.service"
  "--customize-hook=chroot \"\$1\" grub-mkimage -O i386-pc -o /boot/grub/core.img -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2 normal linux configfile serial terminal echo"
  "--customize-hook=cp \"\$1\"/usr/lib/grub/i386-pc/boot.img \"\$1\"/boot/grub/boot.img"
)
if [ -n "$rootpw" ]; then
  hooks+=("--customize-hook=echo root:$rootpw | chroot \"\$1\" chpasswd"
          "--customize-hook=chroot \"\$1\" systemctl enable serial-getty@ttyS0.service")
else
  hooks+=("--customize-hook=chroot \"\$1\" passwd -l root")
fi

echo "build.sh: mmdebstrap (Debian 12) into $rootfs" >&2
mmdebstrap --variant=apt --mode=root \
  --include=systemd-sysv,udev,dbus,kmod,linux-image-amd64,initramfs-tools,grub-pc-bin,whiptail,iproute2,procps,ca-certificates,python3 \
  "${hooks[@]}" \
  bookworm "$rootfs" "$mirror" "http://deb.debian.org/debian-security bookworm-security main"

# The disk: 1 MiB for the MBR and GRUB's core.img, then one ext4 partition.
echo "build.sh: ext4 and the disk" >&2
part="$work/root.ext4"
total=$(python3 -c "import sys; s=sys.argv[1]; m={'G':1<<30,'M':1<<20}; print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$size")
start=$((1 << 20))
mke2fs -q -t ext4 -U "$uuid" -L tapsense -d "$rootfs" "$part" $(((total - start) / 1024))k
raw="$out/tapsense.raw"
rm -f "$raw"
truncate -s "$total" "$raw"
dd if="$part" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$part"
# MBR: GRUB's boot.img (its first 440 bytes), one bootable Linux partition,
# core.img from sector 1 (grub-mkimage fills in its own block list).
python3 - "$raw" "$rootfs/boot/grub/boot.img" "$rootfs/boot/grub/core.img" "$total" <<'EOF'
import struct, sys
raw, boot, core, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
boot_img = open(boot, "rb").read()
core_img = open(core, "rb").read()
if len(core_img) > (2048 - 1) * 512:
    sys.exit("build.sh: core.img (%d bytes) does not fit before the partition" % len(core_img))
first, count = 2048, total // 512 - 2048
entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", first, count)
with open(raw, "r+b") as f:
    f.write(boot_img[:440])
    f.seek(446)
    f.write(entry + b"\0" * 48 + b"\x55\xaa")
    f.seek(512)
    f.write(core_img)
EOF

echo "build.sh: qcow2, VMDK + OVF (OVA), VHDX" >&2
qemu-img convert -f raw -O qcow2 -c "$raw" "$out/tapsense.qcow2"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$raw" "$out/tapsense.vmdk"
qemu-img convert -f raw -O vhdx -o subformat=dynamic "$raw" "$out/tapsense.vhdx"
vmdk_size=$(stat -c %s "$out/tapsense.vmdk")
python3 "$here/ovf.py" --vmdk tapsense.vmdk --vmdk-size "$vmdk_size" --capacity "$total" >"$out/tapsense.ovf"
(cd "$out" && sha256sum tapsense.ovf tapsense.vmdk | sed 's/^\([0-9a-f]*\)  \(.*\)$/SHA256(\2)= \1/' >tapsense.mf)
# An OVA is a tar with the descriptor first.
tar -C "$out" --format=ustar -cf "$out/tapsense.ova" tapsense.ovf tapsense.mf tapsense.vmdk
ls -l "$out"/tapsense.* >&2

#!/usr/bin/env bash
# Installs the Debian 12 packages tapsense builds, runs and tests with.
# Idempotent: only missing packages are installed; nothing is downloaded from
# anywhere but the Debian archive. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries (DESIGN.md section 10); never libboost-dev (it pulls Boost 1.74)
  dpdk dpdk-dev libdpdk-dev libpcap-dev python3-pyelftools
  libboost1.81-dev
  libzmq3-dev cppzmq-dev
  capnproto libcapnp-dev
  libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev
  libsqlite3-dev libsqlitecpp-dev
  libndpi-dev
  nettle-dev libre2-dev
  # platform and the sensor's side of it: HTTPS server and client, password KDF, PostgreSQL
  libssl-dev zlib1g-dev libcurl4-openssl-dev libsodium-dev libpq-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the supervisor as a service: sd_notify, Prometheus metrics; the package test's clean root
  libsystemd-dev prometheus-cpp-dev mmdebstrap
  # data files the sensor reads at run time
  p0f ieee-data
  # tests, sample capture and benchmark peers
  postgresql
  python3 python3-scapy tshark tcpreplay libndpi-bin prads iproute2 procps
  # the platform's e-mail test: a local SMTP sink
  python3-aiosmtpd
  clang libclang-rt-14-dev
  # the web console: npm builds the bundle (platform/console/build.sh), chromium runs its browser test
  nodejs npm chromium
  # the sensor's proxy tests (tests/e2e/test_platform_proxy.py): Squid 5 with its auth helpers
  squid
  # the appliance console (deploy/appliance/tapsense-console) and its tmux test;
  # the appliance image (deploy/image/build.sh) and its boot test
  whiptail tmux qemu-utils qemu-system-x86
)

missing=()
for p in "${PACKAGES[@]}"; do
  # Node.js from elsewhere (NodeSource's nodejs bundles npm and conflicts with
  # Debian's npm package): a working node and npm are enough.
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

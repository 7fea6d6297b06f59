#!/usr/bin/env bash
# The sensor in one command, on a fresh Debian 12 machine:
#   deploy/quickstart.sh            the bundled sample (a capture the project makes itself)
#   deploy/quickstart.sh FILE       any pcap or pcapng file
#   deploy/quickstart.sh IFACE      a live interface (mirror/SPAN port); Ctrl-C to stop
# Installs missing Debian packages, builds into build/, runs the whole
# pipeline under the supervisor and prints the devices it found.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/deploy/install-deps.sh"
"$here/deploy/build.sh" >/dev/null

bin="$here/build/bin"
target="${1:-}"
if [ -z "$target" ]; then
  target="$here/build/sample/sample.pcap"
  mkdir -p "$(dirname "$target")"
  /usr/bin/python3 "$here/deploy/make-sample.py" "$target" >/dev/null
  name=sample
else
  name=$(basename "$target")
  name=${name%.*}
fi
out="${TAPSENSE_OUTPUT:-$here/build/out/$name}"

if [ -f "$target" ]; then
  "$bin/tapsense-supervisor" --pcap "$target" --output "$out"
elif [ -d "/sys/class/net/$target" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "quickstart: live capture on $target needs root" >&2
    exit 1
  fi
  mkdir -p "$out"
  cfg="$out/tapsense.toml"
  cat > "$cfg" <<TOML
[sensor]
state_dir = "$out"
output_dir = "$out"
run_dir = "/run/tapsense-quickstart"

[[capture.interface]]
name = "$target"
driver = "af_packet"
TOML
  echo "quickstart: sensing on $target; outputs refresh every minute in $out; Ctrl-C to stop" >&2
  "$bin/tapsense-supervisor" --config "$cfg" || true
else
  echo "quickstart: '$target' is neither a capture file nor a network interface" >&2
  exit 1
fi

/usr/bin/python3 "$here/deploy/show-assets.py" "$out/assets.json"
echo
echo "Outputs: $out/assets.json  $out/flows.json  (inventory: $out/inventory.sqlite, log: $out/tapsense.log)"

#!/usr/bin/env bash
# Bundles the web console into OUTDIR (index.html, app.js, app.css), which
# the platform serves at / (tapsense-platform serve --console OUTDIR; by
# default bin/console beside the binary). The npm packages are the ones
# pinned in package-lock.json: `npm ci` runs only when the lockfile changed
# and prefers npm's local cache, so a rebuild needs no network.
#   platform/console/build.sh OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "console: $tool is missing (deploy/install-deps.sh installs nodejs and npm)" >&2; exit 1; }
done
cd "$here"
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "console: npm ci (versions pinned in platform/console/package-lock.json)"
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
exec node build.mjs "$out"

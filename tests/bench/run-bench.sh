#!/usr/bin/env bash
# Benchmark wrapper: builds (Release) and runs tests/bench/bench.py with Debian's python.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
"$here/deploy/install-deps.sh"
"$here/deploy/build.sh" >/dev/null
exec /usr/bin/python3 "$here/tests/bench/bench.py" "$@"

#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through CTest.
#   deploy/test.sh                 all tiers (unit, e2e, fault)
#   deploy/test.sh -L unit         one tier (any ctest arguments pass through)
# Tests that need ../shared/pcaps skip with a message when it is absent.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/deploy/install-deps.sh"
"$here/deploy/build.sh"
cd "$here/build"
ctest --output-on-failure --parallel "$(nproc)" "$@"

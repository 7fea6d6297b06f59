#!/usr/bin/env bash
# Configures (CMake, Release) and builds tapsense into build/. Extra arguments
# go to CMake's configure step (e.g. -DTAPSENSE_FUZZ=ON).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
elif [ $# -gt 0 ]; then
  cmake -S . -B build "$@" >/dev/null
fi
cmake --build build --parallel "$(nproc)"

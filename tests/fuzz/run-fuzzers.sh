#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang (ASan + UBSan) into
# build/fuzz/ and runs each for a bounded time over its corpus. A crash is
# copied into tests/fuzz/corpus/<target>/ so it becomes a regression test, and
# the script fails.
#   tests/fuzz/run-fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
shift || true
command -v clang++ >/dev/null || { echo "run-fuzzers: clang++ not installed (deploy/install-deps.sh)"; exit 77; }
bdir="$here/build/fuzz"
if [ ! -f "$bdir/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  # Every library is instrumented for coverage and sanitizers, not only the
  # target's own file.
  CC=clang CXX=clang++ cmake -S "$here" -B "$bdir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
    -DTAPSENSE_FUZZ=ON -DTAPSENSE_TESTS=ON >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/tests/fuzz/fuzz_*.cpp; do
    n=$(basename "$f" .cpp); targets+=("${n#fuzz_}")
  done
fi
if ! cmake --build "$bdir" --parallel "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >"$bdir/build.log" 2>&1; then
  grep -E "error|Error" "$bdir/build.log" | head -20
  echo "run-fuzzers: the clang build failed (full log: $bdir/build.log)"
  exit 1
fi
status=0
for t in "${targets[@]}"; do
  corpus="$here/tests/fuzz/corpus/$t"
  work=$(mktemp -d)
  mkdir -p "$corpus"
  # New interesting inputs go to a scratch corpus; the kept corpus only gains crashes.
  if ! "$bdir/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$work/" "$work" "$corpus" >"$work/log" 2>&1; then
    for c in "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-*; do
      [ -f "$c" ] && cp "$c" "$corpus/" && echo "run-fuzzers: $t: $(basename "$c") saved to $corpus"
    done
    tail -30 "$work/log"
    status=1
  else
    echo "run-fuzzers: $t: $(grep -Eo '#[0-9]+' "$work/log" | tail -1 | tr -d '#') runs in ${secs}s, no crash"
  fi
  rm -rf "$work"
done
exit $status

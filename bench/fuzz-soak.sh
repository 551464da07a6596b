#!/usr/bin/env bash
# bench/fuzz-soak.sh - runs every fuzz target of a fuzz build for RUNS
# executions (default 10 million) from its seed corpus, with ASan+UBSan as
# built (scripts/test.sh configures build-fuzz), and prints per target the
# executions done and whether it crashed; last line: totals.
#
#   bench/fuzz-soak.sh [FUZZ_BUILD]      RUNS=10000000 JOBS=1 ONLY=regex
#
# Long: the slowest targets take hours at 10M. New inputs found go to a
# scratch corpus, not into tests/fuzz/corpus (minimise before committing:
# fuzz_X -merge=1 tests/fuzz/corpus/X scratch/).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fb=${1:-$here/build-fuzz}
runs=${RUNS:-10000000}
only=${ONLY:-.}
work=$(mktemp -d /tmp/fuzz-soak.XXXXXX)
total=0 crashed=0
for f in "$fb"/tests/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  name=$(basename "$f")
  [[ $name =~ $only ]] || continue
  corpus="$here/tests/fuzz/corpus/${name#fuzz_}"
  mkdir -p "$work/$name"
  start=$SECONDS
  "$f" -runs="$runs" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$name-" \
    "$work/$name" $( [ -d "$corpus" ] && echo "$corpus" ) >"$work/$name.log" 2>&1
  rc=$?
  n=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$work/$name.log" | grep -Eo '[0-9]+$' || echo 0)
  total=$((total + n))
  if [ $rc -ne 0 ]; then
    crashed=$((crashed + 1))
    echo "CRASH $name after $n runs ($((SECONDS - start)) s): $(ls "$work/$name"-* 2>/dev/null | head -1)"
    grep -m1 -E 'ERROR: |runtime error' "$work/$name.log"
  else
    echo "ok    $name: $n runs in $((SECONDS - start)) s"
  fi
done
echo "total: $total executions, $crashed targets crashed; logs and artifacts in $work"
[ $crashed -eq 0 ]

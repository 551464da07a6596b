#!/usr/bin/env bash
# Runs every test overlayd has and ends with one line "N passed, N failed[, N skipped]".
#
#   tests/run_all.sh [BUILD_DIR]
#
# Suites: the doctest binaries (each test case counts once; the unit tests a
# second time under ASan+UBSan when $ASAN_BUILD or build-asan has them; the
# threaded code that is ours end to end under TSan when $TSAN_BUILD or
# build-tsan has tests/tsan_tests), then every
# tests/system/*.sh script (exit 0 = pass, 77 = skipped, anything else = fail;
# one script counts once; each gets 300 s, or what its "# run_all-timeout:
# SECONDS" line says), then bounded fuzz runs when a fuzz build exists.
# Privileged scripts need root; as root they always run (CI is root).
set -u
# The scripts' checks call python3 hundreds of times: Debian's interpreter
# starts in 50 ms, a pyenv shim ahead of it on PATH in 500 ms.
[ -x /usr/bin/python3 ] && export PATH="/usr/bin:$PATH"
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
fuzz_build=${FUZZ_BUILD:-$root/build-fuzz}
logdir=$(mktemp -d /tmp/overlayd-tests.XXXXXX)
passed=0 failed=0 skipped=0
failures=()

run_doctest() {  # name binary [env assignments...] [-- doctest arguments...]
  local name=$1 bin=$2 log="$logdir/$1.log"
  shift 2
  local envs=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; args=("$@"); }
  if [ ! -x "$bin" ]; then
    echo "== $name: binary $bin missing"; failed=$((failed + 1)); failures+=("$name (missing)"); return
  fi
  echo "== $name"
  env "${envs[@]}" "${run_prefix[@]}" "$bin" --no-version=true "${args[@]}" >"$log" 2>&1
  local rc=$?
  local line; line=$(grep -E '^\[doctest\] test cases:' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "   no doctest summary (exit $rc); log: $log"; tail -n 20 "$log"
    grep -q 'ThreadSanitizer: unexpected memory mapping' "$log" &&
      echo "   (TSan cannot map its shadow with this much ASLR: sysctl vm.mmap_rnd_bits=28, or setarch -R)"
    failed=$((failed + 1)); failures+=("$name (crashed)"); return
  fi
  local p f s
  p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
  s=$(sed -E 's/.*\| *([0-9]+) skipped.*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  echo "   $line"
  # A sanitizer report fails the suite even when every assertion passed.
  if grep -qE '^(==[0-9]+==ERROR: |SUMMARY: (Address|UndefinedBehavior|Leak|Thread)Sanitizer)|runtime error: |WARNING: ThreadSanitizer' "$log"; then
    echo "   sanitizer report:"; grep -E 'ERROR: |SUMMARY: |runtime error: |WARNING: ThreadSanitizer' "$log" | head -n 20
    failures+=("$name (sanitizer report)"); failed=$((failed + 1)); return
  fi
  if [ "$f" != 0 ] || [ "$rc" != 0 ]; then
    grep -E 'ERROR|FATAL|TEST CASE' "$log" | head -n 40
    failures+=("$name ($f failed)")
    [ "$f" = 0 ] && { failed=$((failed + 1)); }
  fi
}

run_script() {  # path
  local t=$1 name; name=$(basename "$t" .sh)
  local log="$logdir/$name.log"
  local start=$SECONDS
  # 300 s each, unless the script asks for more with a line "# run_all-timeout: SECONDS".
  local limit; limit=$(sed -nE 's/^# run_all-timeout: ([0-9]+)$/\1/p' "$t" | head -n 1)
  BUILD_DIR="$build" TEST_LOG_DIR="$logdir" timeout --kill-after=10 "${limit:-300}" bash "$t" >"$log" 2>&1
  local rc=$?
  case $rc in
    0) passed=$((passed + 1)); echo "PASS $name ($((SECONDS - start))s)" ;;
    77) skipped=$((skipped + 1)); echo "SKIP $name: $(tail -n 1 "$log")" ;;
    *) failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name (exit $rc, $((SECONDS - start))s); last lines:"
       tail -n 30 "$log" | sed 's/^/   | /' ;;
  esac
}

run_prefix=()
run_doctest unit_tests "$build/tests/unit_tests"
[ -x "$build/tests/system/system_tests" ] && run_doctest system_tests "$build/tests/system/system_tests"
# The unit tests under ASan+UBSan, when scripts/test.sh built them (ASAN_BUILD).
asan_build=${ASAN_BUILD:-$root/build-asan}
if [ -x "$asan_build/tests/unit_tests" ]; then
  run_doctest unit_tests_asan "$asan_build/tests/unit_tests" \
    ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:detect_leaks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
# The WireGuard device, the DNS server, the host mutator and the NAT classes
# (tests/tsan_tests: code that is ours end to end, so no suppressions) under
# ThreadSanitizer, when scripts/test.sh built them (TSAN_BUILD). Any report
# fails the suite. TSan maps its shadow memory at fixed addresses, which
# kernels with more ASLR entropy (vm.mmap_rnd_bits > 28) break ("unexpected
# memory mapping"): the binary runs with randomization off (setarch -R) where
# the personality call is allowed. The one long single-threaded case (a
# 19 s flood simulation, nothing for TSan to see) is left to the plain suite.
tsan_build=${TSAN_BUILD:-$root/build-tsan}
if [ -x "$tsan_build/tests/tsan_tests" ]; then
  setarch "$(uname -m)" -R true 2>/dev/null && run_prefix=(setarch "$(uname -m)" -R)
  run_doctest unit_tests_tsan "$tsan_build/tests/tsan_tests" \
    TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4" \
    -- --test-case-exclude="a spoofed-source flood cannot grow the limiter past its bound"
  run_prefix=()
fi

for t in "$here"/system/*.sh; do
  [ -e "$t" ] || continue
  run_script "$t"
done

if [ -d "$fuzz_build" ]; then
  for f in "$fuzz_build"/tests/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue  # not meson's fuzz_*.p object dirs
    name=$(basename "$f")
    corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
    mkdir -p "$logdir/$name"
    if "$f" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -print_final_stats=1 "$logdir/$name" \
        $( [ -d "$corpus" ] && echo "$corpus" ) >"$logdir/$name.log" 2>&1; then
      passed=$((passed + 1)); echo "PASS $name ($(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$logdir/$name.log" | grep -Eo '[0-9]+$' || echo '?') runs)"
    else
      failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; tail -n 30 "$logdir/$name.log"
    fi
  done
fi

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "logs: $logdir"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]

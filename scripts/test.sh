#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test; ends with
# "N passed, N failed[, N skipped]" and exits non-zero on any failure.
#   FUZZ_SECONDS=N  how long each fuzz target runs (default 20; 0 skips fuzzing)
#   ASAN=0          skips the ASan+UBSan build and run of the unit tests
#   TSAN=0          skips the ThreadSanitizer build and run (tests/tsan_tests)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
if ! bash scripts/build.sh build; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
# The unit tests again under ASan+UBSan (only that binary is built there):
# memory errors and undefined behaviour are found by the tools, not by luck.
# ASAN=0 skips it.
if [ "${ASAN:-1}" != 0 ]; then
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan --wrap-mode=nodownload -Db_sanitize=address,undefined -Dbuildtype=debug \
      -Doptimization=1 >/dev/null || { echo "asan configure failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
  if ! ninja -C build-asan tests/unit_tests; then
    echo "asan build failed"; echo "0 passed, 1 failed"; exit 1
  fi
  export ASAN_BUILD=$PWD/build-asan
else
  export ASAN_BUILD=/nonexistent
fi
# The threaded code that is ours end to end (WireGuard device, DNS server,
# host mutator, NAT classes) under ThreadSanitizer: only tests/tsan_tests and
# the libraries it links are built there. TSAN=0 skips it.
if [ "${TSAN:-1}" != 0 ]; then
  if [ ! -f build-tsan/build.ninja ]; then
    meson setup build-tsan --wrap-mode=nodownload -Db_sanitize=thread -Dbuildtype=debug \
      -Doptimization=1 >/dev/null || { echo "tsan configure failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
  if ! ninja -C build-tsan tests/tsan_tests; then
    echo "tsan build failed"; echo "0 passed, 1 failed"; exit 1
  fi
  export TSAN_BUILD=$PWD/build-tsan
else
  export TSAN_BUILD=/nonexistent
fi
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  # libFuzzer targets need clang; only the fuzz targets (and what they link) are built.
  if [ ! -f build-fuzz/build.ninja ]; then
    CXX=clang++ meson setup build-fuzz --wrap-mode=nodownload -Dfuzz=true -Dbuildtype=debugoptimized \
      -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
      { echo "fuzz configure failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
  targets=$(ninja -C build-fuzz -t targets all | grep -oE '^tests/fuzz_[A-Za-z0-9_]+' | sort -u)
  if [ -n "$targets" ] && ! ninja -C build-fuzz $targets; then
    echo "fuzz build failed"; echo "0 passed, 1 failed"; exit 1
  fi
  export FUZZ_BUILD=$PWD/build-fuzz
else
  export FUZZ_BUILD=/nonexistent
fi
exec bash tests/run_all.sh "$PWD/build"

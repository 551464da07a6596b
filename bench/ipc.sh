#!/usr/bin/env bash
# IPC request throughput/latency of the real daemon, tracing on vs off.
#   bench/ipc.sh [BUILD_DIR] [seconds per scenario]
set -euo pipefail
build=${1:-$(dirname "$0")/../build}
exec "$build/bench/bench_ipc" --seconds "${2:-3}"

#!/usr/bin/env bash
# bench/scale.sh - the control plane as the node grows: add_peer, status and
# allowed-IP changes from 0 to PEERS peers, and attach_container from 1 to
# CONTAINERS containers, against one overlayd in a namespace of its own.
# Prints curves (bench/scale_bench.cpp), not pass/fail.
#
#   bench/scale.sh [BUILD_DIR]      PEERS=10000 STEP=1000 CONTAINERS=500 CSTEP=100
#
# Containers are `sleep` processes, each unshared into a network namespace
# of its own (they go when the script ends). Nothing leaves the namespaces.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
peers=${PEERS:-10000} step=${STEP:-1000} containers=${CONTAINERS:-500} cstep=${CSTEP:-100}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
tag=sc$$
N=ovl${tag}n
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()
cleanup() {
  [ -n "${daemon:-}" ] && kill -TERM "$daemon" 2>/dev/null && for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$N"
ip -n "$N" link set lo up
mkdir -m 0700 "$tmp/d"
ip netns exec "$N" "$build/overlayd" --data-dir "$tmp/d" --socket "$tmp/ipc.sock" --http off \
  --uapi-dir "$tmp/wg" --firewall-table "ovl_$tag" --log-level warn > "$tmp/d.log" 2>&1 &
daemon=$!
ctl() { "$build/overlayctl" --socket "$tmp/ipc.sock" --timeout-ms 20000 call "$1" > /dev/null; }
for _ in $(seq 100); do [ -S "$tmp/ipc.sock" ] && break; sleep 0.1; done
ctl "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/24\",\"wg_port\":51820}"
ctl '{"op":"setup_service_overlay","service":"web"}'
echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs"
echo "== peers: 0 -> $peers"
"$build/bench/bench_scale" --socket "$tmp/ipc.sock" --peers "$peers" --step "$step"
echo "   threads $(ls /proc/$daemon/task | wc -l), RSS $(awk '/VmRSS/ { print $2, $3 }' /proc/$daemon/status)"
if [ "$containers" -gt 0 ]; then
  # A service bridge is a /26: 50 containers to a service (c0, c1, ...).
  echo "== containers: 1 -> $containers"
  self=$(stat -L -c %i /proc/self/ns/net)
  : > "$tmp/pids"
  for i in $(seq "$containers"); do
    unshare -n sleep 3600 & p=$!; disown "$p"; pids+=("$p"); echo "$p" >> "$tmp/pids"
  done
  for p in $(cat "$tmp/pids"); do  # each in its own namespace before attach
    for _ in $(seq 100); do [ "$(stat -L -c %i /proc/$p/ns/net)" != "$self" ] && break; sleep 0.01; done
  done
  "$build/bench/bench_scale" --socket "$tmp/ipc.sock" --peers 0 --step "$cstep" --pids "$tmp/pids" --service c
  echo "   threads $(ls /proc/$daemon/task | wc -l), RSS $(awk '/VmRSS/ { print $2, $3 }' /proc/$daemon/status)"
fi

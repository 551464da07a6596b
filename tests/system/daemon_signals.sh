#!/usr/bin/env bash
# Signals: SIGHUP is not fatal (it logs one line of state and the daemon
# keeps serving); SIGQUIT shuts down exactly like SIGTERM (host reverted,
# socket removed, exit 0); SIGINT too.
#
#   namespace N
#   +-----------------------------------------------+
#   |  overlayd --data-dir D                        |
#   |     zl-...-g (global)  zl-...-b (service web) |
#   |     nft table ovl_<tag>                        |
#   +-----------------------------------------------+
#   kill -HUP  -> still serving, same bridges
#   kill -QUIT -> "stopped", namespace as before, exit 0
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=sg$$
N=ovl${tag}n
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()
cleanup() {
  stop_all "${pids[@]}"
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$N"
ip -n "$N" link set lo up
before=$(ovl_snapshot "$N")

bring_up() {  # dir
  ovl_ctl "$1" '{"op":"set_local_node_id","node_id":1}' > /dev/null
  ovl_ctl "$1" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null
  ovl_ctl "$1" '{"op":"setup_service_overlay","service":"web"}' > /dev/null
}

for sig in QUIT INT; do
  dir=$tmp/$sig
  mkdir -m 0700 "$dir"
  ovl_start "$N" "$dir" --firewall-table "ovl_$tag"
  pid=$ovl_pid; pids+=("$pid")
  bring_up "$dir"
  up=$(ovl_snapshot "$N")
  [ "$up" != "$before" ]

  kill -HUP "$pid"
  for _ in $(seq 50); do grep -q "SIGHUP" "$dir.log" && break; sleep 0.1; done
  grep -q "SIGHUP: still serving" "$dir.log"
  sleep 0.5
  kill -0 "$pid"
  ovl_ctl "$dir" '{"op":"status"}' | grep -q '"result":"status"'
  [ "$(ovl_snapshot "$N")" = "$up" ]
  echo "ok: SIGHUP logged state; the daemon serves on with its host state"

  kill -"$sig" "$pid"
  ovl_wait_gone "$pid" 150 || { echo "SIG$sig did not stop the daemon"; exit 1; }
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { echo "exit code $rc after SIG$sig"; tail -n 20 "$dir.log"; exit 1; }
  grep -q "overlayd stopped" "$dir.log"
  [ ! -e "$dir/ipc.sock" ]
  after=$(ovl_snapshot "$N")
  [ "$after" = "$before" ] || { diff <(echo "$before") <(echo "$after"); exit 1; }
  echo "ok: SIG$sig shut down like SIGTERM (reverted, socket gone, exit 0)"
done
echo "signals: HUP is harmless, QUIT and INT shut down cleanly"

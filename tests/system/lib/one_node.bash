# Sourced by single-node system tests: one network namespace $N for one
# overlayd, a temp dir $tmp, and a cleanup trap that stops every process in
# `pids` (SIGTERM first: the daemon reverts), deletes every namespace in
# `cns` and $N, and removes $tmp. Set `tag` (unique, short) before sourcing.
#   start_daemon [overlayd flags...]   overlayd in $N on $tmp/ipc.sock
#   ctl JSON                           one request; field JSON KEY
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/quiet_grep.bash"
. "$(dirname "${BASH_SOURCE[0]}")/procs.bash"
. "$(dirname "${BASH_SOURCE[0]}")/container.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build}
N=ovl${tag}n
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=() cns=()
one_node_cleanup() {
  stop_all "${pids[@]}"
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap one_node_cleanup EXIT
ip netns add "$N"
ip -n "$N" link set lo up
start_daemon() {
  ip netns exec "$N" "$BUILD_DIR/overlayd" --data-dir "$tmp/d" --socket "$tmp/ipc.sock" \
    --firewall-table "ovl_$tag" --log-level warn "$@" > "$tmp/d.log" 2>&1 &
  pids+=($!)
}
ctl() { "$BUILD_DIR/overlayctl" --socket "$tmp/ipc.sock" --timeout-ms 10000 call "$1"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

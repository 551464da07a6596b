#!/usr/bin/env bash
# One daemon per data dir. A second overlayd on the same data dir (an
# operator's mistake) must change nothing: no journal replay, no socket
# unlink, no bind; it exits non-zero naming the first one's pid, and the
# first goes on serving. A second daemon on another data dir but the same
# socket path fails at bind, before touching the host. A data dir that is
# group/world-writable is refused with the fix in the message.
#
#   namespace N
#   +----------------------------------------------------+
#   |  overlayd #1  --data-dir D   socket D/ipc.sock     |
#   |     zl-...-g (global)  zl-...-b (service web)      |
#   |     nft table ovl_<tag>                             |
#   |  overlayd #2  --data-dir D   -> refused (lock)      |
#   |  overlayd #3  --data-dir D3 --socket D/ipc.sock     |
#   |                               -> refused (socket)   |
#   +----------------------------------------------------+
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=so$$
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

dir=$tmp/d
mkdir -m 0700 "$dir"
ovl_start "$N" "$dir" --firewall-table "ovl_$tag"
first=$ovl_pid; pids+=("$first")
ovl_ctl "$dir" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$dir" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null
ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"web"}' > /dev/null
up=$(ovl_snapshot "$N")
grep -q -- '-b' <<< "$up"            # the service bridge exists
ip netns exec "$N" nft list table inet "ovl_$tag" > /dev/null
sock_inode=$(stat -c %i "$dir/ipc.sock")
journal_before=$(cat "$dir/host-journal.json")

# --- a second daemon on the same data dir --------------------------------------
rc=0
timeout 20 ip netns exec "$N" "$D" --data-dir "$dir" --http off --firewall-table "ovl_$tag" \
  > "$tmp/second.log" 2>&1 || rc=$?
cat "$tmp/second.log"
[ "$rc" -ne 0 ] || { echo "second daemon exited 0"; exit 1; }
[ "$rc" -ne 124 ] || { echo "second daemon kept running"; exit 1; }
grep -q "pid $first" "$tmp/second.log"                  # names the holder
[ "$(ovl_snapshot "$N")" = "$up" ]                      # nothing reverted
[ "$(stat -c %i "$dir/ipc.sock")" = "$sock_inode" ]     # socket not unlinked
[ "$(cat "$dir/host-journal.json")" = "$journal_before" ]
kill -0 "$first"
ovl_ctl "$dir" '{"op":"status"}' | grep -q '"result":"status"'   # the first serves on
echo "ok: a second daemon on the same data dir changed nothing"

# --- another data dir, same socket: bind refused, host untouched -------------------
mkdir -m 0700 "$tmp/d3"
rc=0
timeout 20 ip netns exec "$N" "$D" --data-dir "$tmp/d3" --socket "$dir/ipc.sock" --http off \
  --firewall-table "ovl_${tag}3" > "$tmp/third.log" 2>&1 || rc=$?
cat "$tmp/third.log"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
grep -q "answers" "$tmp/third.log"
[ "$(stat -c %i "$dir/ipc.sock")" = "$sock_inode" ]
[ "$(ovl_snapshot "$N")" = "$up" ]
[ ! -e "$tmp/d3/host-journal.json" ]                    # no engine was started
ovl_ctl "$dir" '{"op":"status"}' | grep -q '"result":"status"'
echo "ok: a daemon whose socket is taken fails at bind and changes nothing"

# --- a stale socket (nobody answers) is replaced ---------------------------------
mkdir -m 0700 "$tmp/d4"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$tmp/d4/ipc.sock"
[ -S "$tmp/d4/ipc.sock" ]
ovl_start "$N" "$tmp/d4" --firewall-table "ovl_${tag}4"
pids+=("$ovl_pid")
ovl_ctl "$tmp/d4" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$ovl_pid"
echo "ok: a dead socket file is unlinked and rebound"

# --- a data dir anyone may write is refused -----------------------------------
mkdir -m 0777 "$tmp/open"
chmod 0777 "$tmp/open"
rc=0
timeout 20 ip netns exec "$N" "$D" --data-dir "$tmp/open" --http off > "$tmp/open.out" 2>&1 || rc=$?
cat "$tmp/open.out"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
grep -q "chmod go-w $tmp/open" "$tmp/open.out"
[ ! -e "$tmp/open/lock" ] && [ ! -e "$tmp/open/ipc.sock" ]
echo "ok: a world-writable data dir is refused with the fix"

# --- the first shuts down cleanly and the namespace is as before ----------------------
ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$first"
wait "$first"
[ "$(ovl_snapshot "$N")" = "$before" ]
[ ! -e "$dir/ipc.sock" ]
echo "one daemon per data dir: the second changed nothing, the first served on"

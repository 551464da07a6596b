#!/usr/bin/env bash
# Two dedicated services set up in parallel, 20 times: the marker holds both
# identities every time (each dedicated_transport actor runs on its own
# thread; the marker's read-modify-write has one owner). Between rounds both
# are torn down and the marker must hold neither.
#
#   namespace N
#   +------------------------------------------------------+
#   |  overlayd --data-dir D, global zl-...-g               |
#   |    round i: setup a<i> (dedicated) || setup b<i> (dedicated)
#   |             -> D/agent_network.json has service:a<i> and service:b<i>
#   +------------------------------------------------------+
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=mp$$
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
pid=$ovl_pid; pids+=("$pid")
ovl_ctl "$dir" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$dir" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null

owners() { python3 -c 'import json,sys; print(" ".join(sorted(n["owner"] for n in json.load(open(sys.argv[1]))["networks"])))' "$dir/agent_network.json"; }
for i in $(seq 20); do
  ovl_ctl "$dir" "{\"op\":\"setup_service_overlay\",\"service\":\"a$i\",\"mode\":\"dedicated\"}" > "$tmp/a.out" &
  ja=$!
  ovl_ctl "$dir" "{\"op\":\"setup_service_overlay\",\"service\":\"b$i\",\"mode\":\"dedicated\"}" > "$tmp/b.out" &
  jb=$!
  wait "$ja"; wait "$jb"
  grep -q '"mode":"dedicated"' "$tmp/a.out"
  grep -q '"mode":"dedicated"' "$tmp/b.out"
  got=$(owners)
  [ "$got" = "service:a$i service:b$i" ] || { echo "round $i: marker holds '$got'"; exit 1; }
  ovl_ctl "$dir" "{\"op\":\"teardown_service_overlay\",\"service\":\"a$i\"}" > /dev/null &
  ja=$!
  ovl_ctl "$dir" "{\"op\":\"teardown_service_overlay\",\"service\":\"b$i\"}" > /dev/null &
  jb=$!
  wait "$ja"; wait "$jb"
  got=$(owners)
  [ -z "$got" ] || { echo "round $i: after teardown the marker holds '$got'"; exit 1; }
done
ls "$dir" | grep -q 'agent_network.json.tmp' && { echo "temp files left behind"; exit 1; }
ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$pid"
[ "$(ovl_snapshot "$N")" = "$before" ]
echo "20 rounds of two parallel dedicated setups: the marker held both every time"
